//! The library without the command line: `examples/library.rs` runs the whole pipeline through
//! the public API, and `run` handing its vectors to clustering in memory finds what clustering
//! the file it wrote finds.

mod common;

use std::path::Path;
use std::process::Command;

use common::{model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

/// `target/<profile>/examples/library`, which `cargo test` builds beside the test binaries.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples/library");
    assert!(path.is_file(), "{} is not built", path.display());
    path
}

#[test]
fn the_example_runs_the_pipeline_through_the_public_api() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = Command::new(example())
        .args([SAMPLE, out.to_str().unwrap(), "8"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"304 documents in 8 topics"), "{stdout}");
    // One line per topic: id, size, label; as topics.parquet has them.
    let topics = Table::read(&out.join("topics.parquet"));
    let labels = topics.strings("label");
    let sizes = topics.strings("size");
    assert_eq!(lines.len(), 9, "{stdout}");
    let mut total = 0;
    for (i, line) in lines[..8].iter().enumerate() {
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(i.to_string().as_str()), "{line}");
        let size = parts.next().unwrap();
        assert_eq!(Some(size.to_string()), sizes[i], "{line}");
        total += size.parse::<usize>().unwrap();
        let label: Vec<&str> = parts.collect();
        assert_eq!(Some(label.join(" ")), labels[i], "{line}");
    }
    assert_eq!(total, 304);
    for file in ["embeddings.parquet", "documents.parquet", "run.json"] {
        assert!(out.join(file).is_file(), "{file}");
    }
}

#[test]
fn run_in_memory_clusters_as_the_written_embeddings_do() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir();
    let (ran, clustered) = (dir.path().join("run"), dir.path().join("cluster"));
    let args = ["--k", "8", "--seed", "3", "-q"];
    let mut run = vec!["run", "-i", SAMPLE, "-m", model.to_str().unwrap()];
    run.extend(["-o", ran.to_str().unwrap()]);
    run.extend(args);
    let r = newsclust(&run);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let embeddings = ran.join("embeddings.parquet");
    let mut cluster = vec!["cluster", "--embeddings", embeddings.to_str().unwrap()];
    cluster.extend(["-o", clustered.to_str().unwrap()]);
    cluster.extend(args);
    let r = newsclust(&cluster);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (file, columns) in [
        (
            "documents.parquet",
            &["id", "title", "topic_id", "topic_label", "similarity"][..],
        ),
        (
            "topics.parquet",
            &["label", "keyword_label", "size", "share"][..],
        ),
    ] {
        let (a, b) = (
            Table::read(&ran.join(file)),
            Table::read(&clustered.join(file)),
        );
        for column in columns {
            assert_eq!(a.strings(column), b.strings(column), "{file}: {column}");
        }
    }
}

#[test]
fn a_session_keeps_what_it_wrote_and_clusters_it_in_memory() {
    use newsclust::config::{ClusterConfig, ClusteringConfig, EmbedConfig, ModelSettings};
    use newsclust::{InputConfig, KChoice, Session};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("emb.parquet");
    let config = EmbedConfig {
        input: InputConfig::new(SAMPLE),
        model: ModelSettings {
            model: model_dir().to_str().unwrap().to_string(),
            ..ModelSettings::default()
        },
        out: out.clone(),
        ..EmbedConfig::default()
    };
    let mut progress = newsclust::progress::NoProgress;
    let (session, embedded) =
        Session::embed(&config.check().unwrap(), true, &mut progress).unwrap();
    let docs = embedded.docs.expect("kept");
    // What stays in memory is what the file holds, row for row and bit for bit.
    let file = Table::read(&out);
    let ids: Vec<String> = file.strings("id").into_iter().flatten().collect();
    assert_eq!(docs.ids, ids);
    let vectors: Vec<f32> = file.embeddings().concat();
    assert_eq!(docs.embeddings.as_slice(), vectors.as_slice());
    assert_eq!(embedded.summary.embedded, 304);

    let topics_dir = dir.path().join("topics");
    let cluster = ClusterConfig {
        embeddings: vec![out],
        out: topics_dir.clone(),
        clustering: ClusteringConfig {
            k: KChoice::Fixed(8),
            ..ClusteringConfig::default()
        },
        ..ClusterConfig::default()
    };
    let run = session.cluster(docs, &cluster.check().unwrap()).unwrap();
    assert_eq!(run.topics.len(), 8);
    assert_eq!(run.assignments.len(), 304);
    assert_eq!(run.topics.iter().map(|t| t.size).sum::<usize>(), 304);
    for topic in &run.topics {
        let norm: f32 = topic.centroid.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "topic {}: centroid norm {norm}",
            topic.id
        );
        for &row in &topic.representatives {
            assert_eq!(
                run.assignments[row],
                Some(topic.id),
                "a representative of its topic"
            );
        }
    }
    // run.json is the report's serialization.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(topics_dir.join("run.json")).unwrap())
            .unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&run.report).unwrap()).unwrap();
    assert_eq!(written, report);
    assert_eq!(written["counts"]["documents"], 304);
}
