//! `--resume` (issue 14): a job killed with SIGKILL, or a `run` that failed after embedding,
//! goes on from its checkpointed row groups, and writes what an uninterrupted job writes (same
//! rows, order, vectors and counts); a checkpoint of another job is refused; a job without
//! `--resume` starts over and removes it.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_fatal, model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The sample with bad records among its lines (an empty title and text, a repeated id), so
/// that skipped records on both sides of a checkpoint are counted.
fn input_with_bad_records(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        lines.push(line.to_string());
        if i % 50 == 7 {
            lines.push(format!(
                "{{\"id\": \"empty-{i}\", \"title\": \" \", \"text\": \"\"}}"
            ));
        }
        if i == 120 {
            // The first record's id again.
            let first: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            lines.push(format!(
                "{{\"id\": {}, \"title\": \"Repeated id\", \"text\": \"A second record with the first one's id.\"}}",
                first["id"]
            ));
        }
    }
    let path = dir.join("in.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// `embed` arguments: small row groups and batches, so that the job writes many checkpoints.
fn embed_args<'a>(input: &'a Path, model: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "embed",
        "-i",
        s(input),
        "-m",
        s(model),
        "-o",
        s(out),
        "--device",
        "cpu",
        "--row-group-rows",
        "16",
        "--batch-size",
        "16",
    ]
}

fn groups_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("group-"))
            .count()
    })
}

/// The counts an embed job reports: (embedded, skipped).
fn counts(stderr: &str) -> (u64, u64) {
    let at = stderr.find(" embedded, ").expect("the job's summary line");
    let before = &stderr[..at];
    let embedded = before[before.rfind('(').unwrap() + 1..].parse().unwrap();
    let rest = &stderr[at + " embedded, ".len()..];
    let skipped = rest[..rest.find(' ').unwrap()].parse().unwrap();
    (embedded, skipped)
}

/// Two embeddings files hold the same rows in the same order with bit-identical vectors, in
/// row groups of the same sizes.
fn assert_same_output(a: &Path, b: &Path) {
    let (ta, tb) = (Table::read(a), Table::read(b));
    assert_eq!(ta.rows(), tb.rows());
    for column in ["id", "title", "text"] {
        assert_eq!(ta.strings(column), tb.strings(column), "{column}");
    }
    let (ea, eb) = (ta.embeddings(), tb.embeddings());
    for (i, (x, y)) in ea.iter().zip(&eb).enumerate() {
        let same = x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same, "row {i}: the vectors differ");
    }
    let groups = |p: &Path| {
        let file = std::fs::File::open(p).unwrap();
        let meta = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&file)
            .unwrap();
        meta.row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(a), groups(b), "row group sizes");
}

#[test]
fn an_embed_job_killed_and_resumed_writes_what_an_uninterrupted_one_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = input_with_bad_records(dir.path());
    let model = model_dir();

    let whole = dir.path().join("whole.parquet");
    let reference = newsclust(&embed_args(&input, &model, &whole));
    assert_eq!(
        reference.code, 3,
        "bad records skipped: {}",
        reference.stderr
    );
    let (embedded, skipped) = counts(&reference.stderr);
    // Six empty records and one repeated id.
    assert_eq!(skipped, 7, "{}", reference.stderr);

    // The same job with --resume, killed (SIGKILL) once it has checkpointed a few row groups.
    let out = dir.path().join("out.parquet");
    let checkpoint = dir.path().join(".out.parquet.resume");
    let mut args = embed_args(&input, &model, &out);
    args.push("--resume");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_newsclust"))
        .args(&args)
        .env("HF_HUB_OFFLINE", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while groups_in(&checkpoint) < 4 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = groups_in(&checkpoint);
    assert!(kept >= 4 && (kept as u64) < embedded / 16, "{kept} groups");
    assert!(!out.exists(), "a killed job published its output");

    // Another job's checkpoint (the input changed since) is refused, and left for its own job.
    let other = dir.path().join("other.jsonl");
    std::fs::copy(&input, &other).unwrap();
    let mut other_args = embed_args(&other, &model, &out);
    other_args.push("--resume");
    let refused = newsclust(&other_args);
    assert_fatal(&refused, &["made by another job", "inputs", "--resume"]);
    assert_eq!(groups_in(&checkpoint), kept);

    let resumed = newsclust(&args);
    assert_eq!(resumed.code, 3, "{}", resumed.stderr);
    let said = format!("resuming: {} rows in {kept} row groups", kept * 16);
    assert!(resumed.stderr.contains(&said), "{}", resumed.stderr);
    assert_eq!(counts(&resumed.stderr), (embedded, skipped));
    assert_same_output(&whole, &out);
    assert!(
        !checkpoint.exists(),
        "the checkpoint stayed after publishing"
    );
}

#[test]
fn a_job_without_resume_starts_over_and_removes_an_old_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = input_with_bad_records(dir.path());
    let model = model_dir();
    let out = dir.path().join("out.parquet");
    let checkpoint = dir.path().join(".out.parquet.resume");
    // A checkpoint of an unfinished job: a folder with its facts and a row group file.
    std::fs::create_dir_all(&checkpoint).unwrap();
    std::fs::write(checkpoint.join("job.json"), "[]").unwrap();
    std::fs::write(checkpoint.join("group-000000.parquet"), b"not parquet").unwrap();
    // --skipped-ok: the skipped records are still counted and reported, the exit code is 0.
    let mut args = embed_args(&input, &model, &out);
    args.insert(0, "--skipped-ok");
    let run = newsclust(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("7 of 311 records skipped"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the checkpoint of an unfinished job"),
        "{}",
        run.stderr
    );
    assert!(!checkpoint.exists());
    assert!(counts(&run.stderr).0 > 250);
}

#[test]
fn a_run_that_failed_after_embedding_resumes_without_embedding_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = input_with_bad_records(dir.path());
    let model = model_dir();
    let run = |out: &Path, k: &str, resume: bool| {
        let mut args = vec![
            "run",
            "-i",
            s(&input),
            "-m",
            s(&model),
            "-o",
            s(out),
            "--device",
            "cpu",
            "--row-group-rows",
            "64",
            "--k",
            k,
        ];
        if resume {
            args.push("--resume");
        }
        newsclust(&args)
    };
    let whole = dir.path().join("whole");
    let reference = run(&whole, "5", false);
    assert_eq!(reference.code, 3, "{}", reference.stderr);

    // More topics than articles: clustering fails after every row was embedded and checkpointed.
    let out = dir.path().join("out");
    let failed = run(&out, "5000", true);
    assert_fatal(&failed, &["5000"]);
    assert!(!out.join("embeddings.parquet").exists());
    let checkpoint = out.join(".embeddings.parquet.resume");
    let groups = groups_in(&checkpoint);
    assert!(groups >= 4, "{groups} groups");

    let resumed = run(&out, "5", true);
    assert_eq!(resumed.code, 3, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("row groups kept"),
        "{}",
        resumed.stderr
    );
    assert_eq!(counts(&resumed.stderr), counts(&reference.stderr));
    assert_same_output(
        &whole.join("embeddings.parquet"),
        &out.join("embeddings.parquet"),
    );
    // Clustering the same vectors, same seed: the same topics.
    let topics = |d: &Path| Table::read(&d.join("documents.parquet")).strings("topic_label");
    assert_eq!(topics(&whole), topics(&out));
    assert!(!checkpoint.exists());
}
