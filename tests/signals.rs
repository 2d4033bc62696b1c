//! SIGINT and SIGTERM during each stage of `run` (issue 14): while the model loads, while
//! embedding, while clustering, while naming. The signal is sent when the run's own log says the
//! stage has begun, not after a guessed delay. Each time: the exit code says which signal
//! (130, 143), the output folder holds the previous result exactly, no temporary file or lock
//! stays, and the next run into the folder succeeds.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::model_dir;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Every file of `dir` (hidden ones too) with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    found.sort();
    found
}

fn run_command(out: &Path, k: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_newsclust"));
    cmd.args([
        "run",
        "-v",
        "-i",
        SAMPLE,
        "-m",
        s(&model_dir()),
        "-o",
        s(out),
    ])
    .args(["--k", k, "--device", "cpu"])
    .env("HF_HUB_OFFLINE", "1")
    .env("NO_COLOR", "1");
    cmd
}

/// The stages, each by the log line that says it has begun.
const STAGES: [(&str, &str); 4] = [
    ("loading", "locked; opening the device"),
    ("embedding", " on cpu, "),
    ("clustering", "embedded (published with the topics)"),
    ("naming", "keywords: "),
];

#[test]
fn sigint_and_sigterm_in_each_stage_leave_the_previous_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("out");
    let first = run_command(&out, "3").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = files(&out);
    assert!(before.iter().any(|(n, _)| n == "topics.parquet"));

    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        for (stage, marker) in STAGES {
            let mut child = run_command(&out, "8")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = child.stderr.take().unwrap();
            let pid = child.id() as libc::pid_t;
            // SAFETY: signals to our own child, not reaped before `wait` below.
            let send = || unsafe {
                libc::kill(pid, signal);
            };
            let mut log = String::new();
            let mut sent = false;
            let deadline = Instant::now() + Duration::from_secs(120);
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                log.push_str(&line);
                log.push('\n');
                if !sent && line.contains(marker) {
                    send();
                    sent = true;
                }
                assert!(Instant::now() < deadline, "{stage}: the run did not end");
            }
            let status = child.wait().unwrap();
            assert!(sent, "{stage}: its log line never came:\n{log}");
            assert_eq!(
                status.code(),
                Some(code),
                "signal {signal} while {stage}:\n{log}"
            );
            assert!(
                files(&out) == before,
                "signal {signal} while {stage}: the folder changed:\n{log}"
            );
        }
    }
    // Nothing was left in the way: the next run publishes its result.
    let again = run_command(&out, "8").output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_ne!(files(&out), before);
}

/// `cluster --stream on` stopped in each of its passes: while sampling, refining, writing.
#[test]
fn sigint_and_sigterm_in_each_streaming_pass_leave_the_previous_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let embeddings = dir.path().join("e.parquet");
    let embedded = common::embed_quietly(Path::new(SAMPLE), &model_dir(), &embeddings);
    assert_eq!(embedded.code, 0, "{}", embedded.stderr);
    let out: PathBuf = dir.path().join("out");
    let cluster = |k: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_newsclust"));
        cmd.args([
            "cluster",
            "-v",
            "--embeddings",
            s(&embeddings),
            "-o",
            s(&out),
        ])
        .args(["--k", k, "--stream", "on", "--stream-sample", "100"])
        .args(["--naming", "keywords"])
        .env("NO_COLOR", "1");
        cmd
    };
    let first = cluster("3").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = files(&out);
    const PASSES: [(&str, &str); 3] = [
        ("sampling", "the vectors are read in passes"),
        ("refining", "streaming: pass 1:"),
        ("writing", "streaming: gathered"),
    ];
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        for (pass, marker) in PASSES {
            let mut child = cluster("8").stderr(Stdio::piped()).spawn().unwrap();
            let stderr = child.stderr.take().unwrap();
            let pid = child.id() as libc::pid_t;
            let mut log = String::new();
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                log.push_str(&line);
                log.push('\n');
                if !sent && line.contains(marker) {
                    // SAFETY: a signal to our own child, not reaped before `wait` below.
                    unsafe {
                        libc::kill(pid, signal);
                    }
                    sent = true;
                }
            }
            let status = child.wait().unwrap();
            assert!(sent, "{pass}: its log line never came:\n{log}");
            assert_eq!(
                status.code(),
                Some(code),
                "signal {signal} while {pass}:\n{log}"
            );
            assert!(
                files(&out) == before,
                "signal {signal} while {pass}: the folder changed:\n{log}"
            );
        }
    }
}
