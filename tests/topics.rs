//! `run`, `cluster` and `eval` end to end on the sample: topic quality, output schemas read by the
//! arrow reader and by duckdb/pyarrow, determinism, guided labels, and bad input.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{eval_json, model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn run_sample(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("out/sample");
    let model = model_dir();
    let mut args = vec![
        "run",
        "-q",
        "--input",
        SAMPLE,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = newsclust(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    out
}

/// The Python of `target/test-venv` (made by tests/setup.sh), or $NEWSCLUST_PYTHON.
fn python() -> PathBuf {
    let p = std::env::var_os("NEWSCLUST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    assert!(
        p.is_file(),
        "{} is missing: run `sh tests/setup.sh` first",
        p.display()
    );
    p
}

#[test]
fn sample_topics_recover_the_gold_topics_and_outputs_are_complete() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sample(dir.path(), &["--k", "8"]);
    // Measured 0.985 NMI with k = 8 on the 8 gold topics; 0.9 leaves room for float differences
    // between machines but fails if clustering, embedding or the reader breaks.
    let scores = eval_json(&out.join("documents.parquet"));
    let nmi = scores["all"]["nmi"].as_f64().unwrap();
    assert!(nmi >= 0.9, "NMI {nmi}");

    let docs = Table::read(&out.join("documents.parquet"));
    assert_eq!(
        docs.column_names(),
        [
            "id",
            "title",
            "date",
            "label",
            "topic_id",
            "topic_label",
            "similarity"
        ]
    );
    assert_eq!(docs.rows(), 304);
    let topics = Table::read(&out.join("topics.parquet"));
    assert_eq!(
        topics.column_names(),
        [
            "topic_id",
            "label",
            "keyword_label",
            "guided_label",
            "phrase",
            "phrase_similarity",
            "theme",
            "theme_similarity",
            "keywords",
            "keyword_scores",
            "size",
            "share",
            "centroid",
            "representative_ids"
        ]
    );
    assert_eq!(topics.rows(), 8);
    let labels: Vec<String> = topics.strings("label").into_iter().flatten().collect();
    assert_eq!(
        labels.iter().collect::<HashSet<_>>().len(),
        8,
        "labels are unique: {labels:?}"
    );
    for l in &labels {
        let words = l.split_whitespace().count();
        assert!((1..=4).contains(&words), "a label of 1 to 4 words: {l:?}");
    }
    // Every sample topic has a phrase; its theme, where it has one, is one of the built-in list.
    assert!(topics.strings("phrase").iter().all(Option::is_some));
    let builtin = include_str!("../src/topics/vocab/themes.txt");
    for theme in topics.strings("theme").into_iter().flatten() {
        assert!(
            builtin.lines().any(|l| l.starts_with(&format!("{theme}:"))),
            "{theme}"
        );
    }
    let sizes: usize = topics
        .strings("size")
        .iter()
        .map(|s| s.as_ref().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(sizes, 304);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["counts"]["embedded"], 304);
    assert_eq!(run["counts"]["unassigned"], 0);
    assert_eq!(run["model"]["id"], common::MODEL_ID);
    assert_eq!(run["config"]["input"], serde_json::json!([SAMPLE]));
    assert_eq!(run["config"]["input_files"], serde_json::json!([SAMPLE]));
    assert!(run["seconds"]["embed"].as_f64().unwrap() > 0.0);
    // No temporary files left.
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name}");
    }
}

#[test]
fn readme_read_the_results_example_runs_with_duckdb_and_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    run_sample(dir.path(), &["--k", "8"]);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- read-the-results -->")
        .expect("README marker");
    let block = &readme[start..];
    let code_start = block.find("```python\n").unwrap() + "```python\n".len();
    let code = &block[code_start..code_start + block[code_start..].find("```").unwrap()];
    // The example ends by asserting what it read, so a wrong schema fails here.
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README example failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("topic_id"), "{stdout}");
}

#[test]
fn cluster_reuses_embeddings_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let emb = dir.path().join("emb.parquet");
    let model = model_dir();
    let run = common::embed_quietly(Path::new(SAMPLE), &model, &emb);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut seen = Vec::new();
    for name in ["a", "b"] {
        let out = dir.path().join(name);
        let run = newsclust(&[
            "cluster",
            "-q",
            "--embeddings",
            emb.to_str().unwrap(),
            "--k",
            "6",
            "--seed",
            "7",
            "--with-embeddings",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let docs = Table::read(&out.join("documents.parquet"));
        assert_eq!(
            docs.embeddings().len(),
            304,
            "--with-embeddings adds the vectors"
        );
        seen.push((
            docs.strings("topic_id"),
            Table::read(&out.join("topics.parquet")).strings("label"),
        ));
    }
    assert_eq!(seen[0], seen[1], "same input and seed, same topics");
}

#[test]
fn hdbscan_leaves_few_unassigned() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_sample(
        dir.path(),
        &["--algorithm", "hdbscan", "--min-cluster-size", "10"],
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let unassigned = run["counts"]["unassigned"].as_u64().unwrap();
    assert!(
        unassigned * 20 <= 304,
        "at most 5% unassigned, got {unassigned}"
    );
    assert!(run["counts"]["topics"].as_u64().unwrap() >= 2);
}

#[test]
fn guided_labels_are_used_when_similar_enough() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "# candidate labels\nchip supply\nsecurity breaches\nantitrust regulation\nstartup funding\n\nsmartphones and wearables\n").unwrap();
    let out = run_sample(
        dir.path(),
        &[
            "--k",
            "8",
            "--labels",
            labels.to_str().unwrap(),
            "--label-threshold",
            "0.35",
        ],
    );
    let topics = Table::read(&out.join("topics.parquet"));
    let guided: Vec<String> = topics
        .strings("guided_label")
        .into_iter()
        .flatten()
        .collect();
    assert!(guided.len() >= 3, "{guided:?}");
    assert!(
        guided.iter().any(|g| g == "security breaches"),
        "{guided:?}"
    );
    // Topics with a guided label show it; the others keep the label made of phrase and theme.
    for (label, g) in topics
        .strings("label")
        .iter()
        .zip(topics.strings("guided_label"))
    {
        match g {
            Some(g) => assert!(label.as_deref().unwrap().starts_with(g.as_str())),
            None => assert!(label.as_ref().unwrap().split_whitespace().count() <= 4),
        }
    }
}

#[test]
fn bad_cluster_input_is_a_clear_error_without_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"title\": \"Chip deal\"}\n{\"title\": \"Cloud outage\"}\n{\"title\": \"Phone launch\"}\n").unwrap();
    let model = model_dir();
    let emb = dir.path().join("emb.parquet");
    assert_eq!(common::embed_quietly(&input, &model, &emb).code, 0);
    let out = dir.path().join("topics");
    let cluster = |extra: &[&str]| {
        let mut args = vec![
            "cluster",
            "--embeddings",
            emb.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        newsclust(&args)
    };
    // k larger than the number of articles.
    let run = cluster(&["--k", "10"]);
    common::assert_fatal(&run, &["cannot make 10 clusters from 3 articles"]);
    // An unreadable labels file.
    let run = cluster(&[
        "--k",
        "2",
        "--labels",
        dir.path().join("missing.txt").to_str().unwrap(),
    ]);
    common::assert_fatal(&run, &["missing.txt", "labels file cannot be read"]);
    // Embeddings made by another model than --model names (a copy of the folder is another model id).
    let other = common::model_copy(&dir.path().join("other-model"), |_| {});
    let run = cluster(&["--k", "2", "--model", other.to_str().unwrap()]);
    common::assert_fatal(
        &run,
        &["made with model 'sentence-transformers/all-MiniLM-L6-v2'"],
    );
    // Not an embeddings file.
    let run = newsclust(&[
        "cluster",
        "--embeddings",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        !out.join("documents.parquet").exists()
            && !out.join("topics.parquet").exists()
            && !out.join("run.json").exists()
    );
}

#[test]
fn identical_embeddings_make_one_topic() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let lines: Vec<String> = (0..6)
        .map(|i| format!("{{\"id\": \"{i}\", \"title\": \"Same headline\"}}"))
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out");
    let model = model_dir();
    for algo in ["kmeans", "hdbscan"] {
        let run = newsclust(&[
            "run",
            "-i",
            input.to_str().unwrap(),
            "-m",
            model.to_str().unwrap(),
            "--k",
            "3",
            "--algorithm",
            algo,
            "--min-cluster-size",
            "2",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("identical"), "{}", run.stderr);
        assert_eq!(Table::read(&out.join("topics.parquet")).rows(), 1);
    }
}

#[test]
fn run_with_nothing_to_embed_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"title\": \"  \"}\n").unwrap();
    let out = dir.path().join("out");
    let run = newsclust(&[
        "run",
        "-i",
        input.to_str().unwrap(),
        "-m",
        model_dir().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    common::assert_fatal(&run, &["no article could be embedded"]);
    assert!(!out.join("embeddings.parquet").exists() && !out.join("documents.parquet").exists());
}

#[test]
fn run_checks_clustering_flags_before_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let model = model_dir();
    let missing = dir.path().join("labels.txt");
    for (flags, says) in [
        (vec!["--k", "0"], "k must be at least 1".to_string()),
        (
            vec!["--algorithm", "hdbscan", "--min-cluster-size", "1"],
            "--min-cluster-size must be at least 2".to_string(),
        ),
        (
            vec!["--labels", missing.to_str().unwrap()],
            format!("{}: labels file cannot be read", missing.display()),
        ),
    ] {
        let mut args = vec![
            "run",
            "-i",
            SAMPLE,
            "-m",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(flags);
        let run = newsclust(&args);
        common::assert_fatal(&run, &[says.as_str()]);
        // Nothing was embedded: the embeddings file was never started.
        assert!(
            !out.exists(),
            "{:?}",
            std::fs::read_dir(&out).map(|d| d.count())
        );
    }
}

#[test]
fn extra_stop_words_leave_the_keywords() {
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop.txt");
    std::fs::write(&stop, "# house words\nCloud\nmodel\n").unwrap();
    let out = run_sample(
        dir.path(),
        &["--k", "8", "--stop-words", stop.to_str().unwrap()],
    );
    let topics = Table::read(&out.join("topics.parquet"));
    let labels = topics.strings("label");
    let batch = &topics.batches[0];
    let keywords = batch.column_by_name("keywords").unwrap();
    let list = keywords
        .as_any()
        .downcast_ref::<arrow_array::ListArray>()
        .unwrap();
    let words = list
        .values()
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert!(arrow_array::Array::len(words) >= 8 * 5);
    for w in words.iter().flatten() {
        assert!(
            !w.split(' ').any(|x| x == "cloud" || x == "model"),
            "{w} in {labels:?}"
        );
    }
    // An unreadable stop-word file is an error.
    let run = newsclust(&[
        "run",
        "-q",
        "--input",
        SAMPLE,
        "--model",
        model_dir().to_str().unwrap(),
        "--stop-words",
        dir.path().join("nope.txt").to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    common::assert_fatal(&run, &["stop words file cannot be read"]);
}

#[test]
fn embeddings_of_several_files_are_clustered_together() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    let lines: Vec<&str> = include_str!("../datasets/tech_news_sample.jsonl")
        .lines()
        .collect();
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    // The sample in two halves, each embedded by a job of its own, as two machines would.
    let embed = |name: &str, rows: &[&str], model: &Path| {
        let input = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&input, rows.join("\n")).unwrap();
        let out = shards.join(format!("{name}.parquet"));
        let run = common::embed_quietly(&input, model, &out);
        assert_eq!(run.code, 0, "{}", run.stderr);
        out
    };
    embed("1", &lines[..150], &model);
    embed("2", &lines[150..], &model);
    let out = dir.path().join("topics");
    let cluster = |embeddings: &[&str]| {
        let mut args = vec!["cluster", "-q", "--k", "8", "--out", out.to_str().unwrap()];
        args.push("--embeddings");
        args.extend_from_slice(embeddings);
        newsclust(&args)
    };
    let run = cluster(&[shards.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = Table::read(&out.join("documents.parquet"));
    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let got: Vec<String> = docs.strings("id").into_iter().map(Option::unwrap).collect();
    assert_eq!(got, ids, "every row, in file order");
    // Vectors and gold labels stay together: the halves cluster as well as the whole sample.
    let nmi = eval_json(&out.join("documents.parquet"))["all"]["nmi"]
        .as_f64()
        .unwrap();
    assert!(nmi >= 0.9, "NMI {nmi}");

    // Overlapping inputs: every row is kept, and the shared ids are counted and warned about.
    let copy = dir.path().join("copy.parquet");
    std::fs::copy(shards.join("1.parquet"), &copy).unwrap();
    let run = cluster(&[shards.to_str().unwrap(), copy.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("150 documents have the id of an earlier one (the first: '"),
        "{}",
        run.stderr
    );
    assert_eq!(Table::read(&out.join("documents.parquet")).rows(), 454);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["counts"]["duplicate_ids"], 150);

    // Vectors of another model (a copy of the folder is another model id) are refused.
    let other = common::model_copy(&dir.path().join("other-model"), |_| {});
    let odd = embed("odd", &lines[..3], &other);
    let run = cluster(&[
        shards.join("1.parquet").to_str().unwrap(),
        odd.to_str().unwrap(),
    ]);
    common::assert_fatal(
        &run,
        &["odd.parquet: made with", "cannot be clustered together"],
    );
}
