//! The switches kept for comparisons (`benches/gpu/` sets them side by side): each is a flag,
//! each changes how a job runs and none changes what it writes. On the CPU, the ones that act
//! on a GPU only are accepted and leave the output as it was.

mod common;

use std::path::{Path, PathBuf};

use common::{model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

/// `embed` of the sample's first 60 articles on one CPU thread, with `extra` flags.
fn embed(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, common::Run) {
    let out = dir.join(name);
    let model = model_dir();
    let mut args = vec!["embed", "-i", SAMPLE, "--limit", "60", "--threads", "1"];
    args.extend(["-m", model.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let run = newsclust(&args);
    assert_eq!(run.code, 0, "{extra:?}: {}", run.stderr);
    (out, run)
}

#[test]
fn embedding_switches_change_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (base, _) = embed(dir.path(), "base.parquet", &[]);
    let expected = Table::read(&base).embeddings();
    assert_eq!(expected.len(), 60);
    for (name, flags) in [
        // One batch at a time instead of one queued behind another (the CPU queues too).
        ("one_at_a_time", &["--queue-batches", "false"][..]),
        // Every row group synced before the next.
        ("sync_wait", &["--write-sync", "wait"][..]),
        // GPU-only: accepted here, nothing to change.
        ("cuda_flags", &["--cuda-preload", "false", "--cuda-ptx"][..]),
    ] {
        let (out, _) = embed(dir.path(), &format!("{name}.parquet"), flags);
        assert_eq!(Table::read(&out).embeddings(), expected, "{name}");
    }
}

#[test]
fn teardown_frees_the_model_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let (out, run) = embed(dir.path(), "t.parquet", &["-v", "--teardown"]);
    assert!(
        run.stderr.contains("model and device freed in"),
        "{}",
        run.stderr
    );
    assert_eq!(Table::read(&out).rows(), 60);
    let (_, run) = embed(dir.path(), "fast.parquet", &["-v"]);
    assert!(
        !run.stderr.contains("model and device freed in"),
        "without --teardown the operating system frees them: {}",
        run.stderr
    );
}

#[test]
fn candle_kmeans_ops_give_the_same_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (emb, _) = embed(dir.path(), "e.parquet", &[]);
    let topics = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["cluster", "-q", "--embeddings", emb.to_str().unwrap()];
        args.extend(["--k", "4", "-o", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let run = newsclust(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        Table::read(&out.join("documents.parquet")).strings("topic_id")
    };
    assert_eq!(
        topics("ours", &[]),
        topics("candle", &["--kmeans-kernels", "candle"])
    );
}

#[test]
fn bench_profile_times_the_forward_pass_stages() {
    let model = model_dir();
    let args = [
        "bench",
        "-q",
        "-i",
        SAMPLE,
        "--limit",
        "40",
        "-m",
        model.to_str().unwrap(),
        "--repeat",
        "1",
        "--k",
        "3",
        "--forward",
        "packed",
    ];
    let plain = newsclust(&args);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(
        !plain.stderr.contains("forward-pass stages"),
        "{}",
        plain.stderr
    );
    let mut profiled = args.to_vec();
    profiled.push("--profile");
    let run = newsclust(&profiled);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for stage in [
        "forward-pass stages",
        "embeddings",
        "attention",
        "pool",
        "download",
    ] {
        assert!(run.stderr.contains(stage), "{stage}: {}", run.stderr);
    }
}
