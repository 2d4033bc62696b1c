//! Sharded embedding (issue 14, part 4, local prefixes): shard I of N embeds a contiguous run of
//! the records into PREFIX/part-IIIII-of-NNNNN.parquet; `cluster --embeddings PREFIX` reads the
//! parts in order and gets what one job over the whole input gets; a missing, doubled or mixed
//! part is a clear error.

mod common;

use std::path::Path;

use common::{assert_fatal, model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `embed --shard auto --shard-count 4` as a Kubernetes Indexed Job runs it: four processes at
/// once, each told its index by JOB_COMPLETION_INDEX.
fn embed_shards(input: &str, prefix: &Path) -> Vec<i32> {
    let model = model_dir();
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_newsclust"))
                .args(["embed", "-q", "-i", input, "-m", s(&model), "-o", s(prefix)])
                .args(["--shard", "auto", "--shard-count", "4"])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .env("HF_HUB_OFFLINE", "1")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let code = out.status.code().unwrap_or(-1);
            if code != 0 && code != 3 {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            }
            code
        })
        .collect()
}

/// `embed --shard SHARD` of `input` into `prefix`.
fn embed_shard(input: &Path, prefix: &Path, shard: &str) -> common::Run {
    let model = model_dir();
    newsclust(&[
        "embed",
        "-q",
        "-i",
        s(input),
        "-m",
        s(&model),
        "-o",
        s(prefix),
        "--shard",
        shard,
    ])
}

fn cluster(embeddings: &[&Path], out: &Path) -> common::Run {
    let mut args = vec!["cluster", "-q", "--embeddings"];
    args.extend(embeddings.iter().map(|p| s(p)));
    args.extend([
        "-o",
        s(out),
        "--k",
        "8",
        "--seed",
        "7",
        "--naming",
        "keywords",
    ]);
    newsclust(&args)
}

fn parts(prefix: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(prefix)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn four_shards_cluster_as_one_job_over_the_whole_input() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix");
    assert_eq!(embed_shards(SAMPLE, &prefix), [0, 0, 0, 0]);
    let names: Vec<String> = (0..4)
        .map(|i| format!("part-0000{i}-of-00004.parquet"))
        .collect();
    assert_eq!(parts(&prefix), names, "four parts and nothing else");
    // Contiguous near-equal slices: 76 records each of the 304.
    for name in &names {
        let t = Table::read(&prefix.join(name));
        assert_eq!(t.rows(), 76, "{name}");
        assert!(
            t.meta("newsclust.shard").is_some_and(|v| v.ends_with("/4")),
            "{name}"
        );
    }

    let whole = dir.path().join("whole.parquet");
    let one = common::embed_quietly(Path::new(SAMPLE), &model_dir(), &whole);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let (sharded_out, single_out) = (dir.path().join("c4"), dir.path().join("c1"));
    let run = cluster(&[&prefix], &sharded_out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = cluster(&[&whole], &single_out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (a, b) = (
        Table::read(&sharded_out.join("documents.parquet")),
        Table::read(&single_out.join("documents.parquet")),
    );
    assert_eq!(a.strings("id"), b.strings("id"), "same rows, same order");
    assert_eq!(
        a.strings("topic_id"),
        b.strings("topic_id"),
        "same assignments"
    );
    // The vectors: the same texts in other batches, equal to float rounding.
    let merged: Vec<Vec<f32>> = names
        .iter()
        .flat_map(|n| Table::read(&prefix.join(n)).embeddings())
        .collect();
    let single = Table::read(&whole).embeddings();
    assert_eq!(merged.len(), single.len());
    for (x, y) in merged.iter().zip(&single) {
        assert!(common::cosine(x, y) > 0.99999);
    }

    // A retried shard replaces its part whole: still four parts, still 304 rows.
    let again = embed_shard(Path::new(SAMPLE), &prefix, "2/4");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(parts(&prefix), names);
    let rows: usize = names
        .iter()
        .map(|n| Table::read(&prefix.join(n)).rows())
        .sum();
    assert_eq!(rows, 304);

    // A part missing, or two sets of parts: clear errors, no output.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(prefix.join(&names[0]), other.join(&names[0])).unwrap();
    let out = dir.path().join("never");
    assert_fatal(
        &cluster(&[&other], &out),
        &[
            "incomplete",
            "part-00001-of-00004.parquet, part-00002-of-00004.parquet, part-00003-of-00004.parquet missing (of 4)",
        ],
    );
    assert_fatal(
        &cluster(&[&prefix, &other], &out),
        &["part 0 is given twice"],
    );
    std::fs::rename(
        other.join(&names[0]),
        other.join("part-00000-of-00003.parquet"),
    )
    .unwrap();
    assert_fatal(
        &cluster(&[&prefix, &other], &out),
        &["part of a job of 3 shards", "of one of 4"],
    );
    assert!(!out.join("documents.parquet").exists());

    // A part of another input (here its first 100 records) in place of part 2: refused.
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let shorter = dir.path().join("shorter.jsonl");
    std::fs::write(
        &shorter,
        text.lines().take(100).collect::<Vec<_>>().join("\n") + "\n",
    )
    .unwrap();
    let other_input = embed_shard(&shorter, &prefix, "2/4");
    assert_eq!(other_input.code, 0, "{}", other_input.stderr);
    assert_fatal(
        &cluster(&[&prefix], &out),
        &[
            "part-00002-of-00004.parquet: holds records 50-75 of 100",
            "end at record 152 of 304",
            "different jobs or inputs",
        ],
    );

    // A part of another input with as many records (one title changed): the record ranges
    // agree, the input's fingerprint (file names and sizes, how they were read) does not.
    // Same file name as the sample, so that only its size tells it apart.
    std::fs::create_dir(dir.path().join("edited")).unwrap();
    let changed = dir.path().join("edited/tech_news_sample.jsonl");
    std::fs::write(
        &changed,
        text.replacen("\"title\": \"", "\"title\": \"Updated: ", 1),
    )
    .unwrap();
    let other_input = embed_shard(&changed, &prefix, "2/4");
    assert_eq!(other_input.code, 0, "{}", other_input.stderr);
    assert_fatal(
        &cluster(&[&prefix], &out),
        &[
            "part-00002-of-00004.parquet: a part of an embed job over another input than",
            "part-00000-of-00004.parquet",
        ],
    );
}

#[test]
fn shards_keep_and_skip_what_one_job_would() {
    let dir = tempfile::tempdir().unwrap();
    // Ten records; the last repeats the first one's id (a duplicate the last shard must see),
    // the fifth is bad, and some have no id.
    let lines = [
        r#"{"id": "a", "title": "Chip plant opens"}"#,
        r#"{"title": "Cloud deal signed"}"#,
        r#"{"id": "b", "title": "Rates rise"}"#,
        r#"{"id": "c", "title": "Outage at a bank"}"#,
        r#"{"id": "d", "title": ""}"#,
        r#"{"title": "Robot startup funded"}"#,
        r#"{"id": "e", "title": "Layoffs at a lab"}"#,
        r#"{"id": "f", "title": "New phone launched"}"#,
        r#"{"id": "g", "title": "Antitrust case filed"}"#,
        r#"{"id": "a", "title": "Chip plant opens again"}"#,
    ];
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let prefix = dir.path().join("prefix");
    let codes = embed_shards(s(&input), &prefix);
    // Slices of 2, 3, 2, 3 records: the bad one is shard 1's, the duplicate shard 3's.
    assert_eq!(codes, [0, 3, 0, 3]);
    let ids: Vec<String> = parts(&prefix)
        .iter()
        .flat_map(|n| Table::read(&prefix.join(n)).strings("id"))
        .flatten()
        .collect();
    let whole = dir.path().join("whole.parquet");
    let one = common::embed_quietly(&input, &model_dir(), &whole);
    assert_eq!(one.code, 3, "{}", one.stderr);
    let single: Vec<String> = Table::read(&whole)
        .strings("id")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids, single);
    assert_eq!(ids, ["a", "#1", "b", "c", "#5", "e", "f", "g"]);

    // More shards than records: the empty ones still write their (empty) part.
    let tiny = dir.path().join("tiny.jsonl");
    std::fs::write(&tiny, lines[..2].join("\n") + "\n").unwrap();
    let few = dir.path().join("few");
    assert_eq!(embed_shards(s(&tiny), &few), [0, 0, 0, 0]);
    let rows: Vec<usize> = parts(&few)
        .iter()
        .map(|n| Table::read(&few.join(n)).rows())
        .collect();
    assert_eq!(rows, [0, 1, 0, 1]);
}

#[test]
fn bad_shard_flags_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    let out = dir.path().join("p");
    let embed = |extra: &[&str]| {
        let mut args = vec!["embed", "-q", "-i", SAMPLE, "-m", s(&model), "-o", s(&out)];
        args.extend_from_slice(extra);
        newsclust(&args)
    };
    assert_fatal(
        &embed(&["--shard", "4/4"]),
        &["index must be below the count"],
    );
    assert_fatal(&embed(&["--shard", "two"]), &["give the shard as I/N"]);
    // auto without a scheduler's variables (the tests' environment has none).
    if std::env::var_os("JOB_COMPLETION_INDEX").is_none()
        && std::env::var_os("AWS_BATCH_JOB_ARRAY_INDEX").is_none()
        && std::env::var_os("SLURM_ARRAY_TASK_ID").is_none()
    {
        assert_fatal(
            &embed(&["--shard", "auto"]),
            &["no array-job index in the environment"],
        );
    }
    assert!(!out.exists());
}
