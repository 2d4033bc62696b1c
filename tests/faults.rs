//! Runs as transactions (issue 14, first part): a run that fails late leaves the previous
//! result as it was; a second job into an output in use is refused; an output that is an input,
//! or lies in an input folder, is refused; broken links in input folders are errors; the
//! temporary files of a killed run are removed by the next one; made-up ids never take a real
//! one's place.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_fatal, model_dir, newsclust};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The first `n` records of the sample, as a JSONL file in `dir`.
fn sample_slice(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    let path = dir.join("slice.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn run_into(input: &Path, out: &Path, extra: &[&str]) -> common::Run {
    let model = model_dir();
    let mut args = vec!["run", "-q", "-i", s(input), "-m", s(&model), "-o", s(out)];
    args.extend_from_slice(extra);
    newsclust(&args)
}

/// Every visible file of `dir` with its size and a hash of its bytes (lock files, hidden, hold
/// the last job's process id).
fn snapshot(dir: &Path) -> Vec<(String, usize, u64)> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<(String, usize, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, bytes.len(), h.finish())
        })
        .filter(|(name, _, _)| !name.starts_with('.'))
        .collect();
    files.sort();
    files
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// `run --k 8` of the whole sample into `out`, started in the background (seconds of work on
/// the CPU).
fn spawn_whole_sample_run(out: &Path) -> std::process::Child {
    let model = model_dir();
    std::process::Command::new(env!("CARGO_BIN_EXE_newsclust"))
        .args(["run", "-q", "-i", SAMPLE, "-m", s(&model), "-o", s(out)])
        .args(["--k", "8"])
        .env("HF_HUB_OFFLINE", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A complete `run` result of the first `records` sample records in `dir/out`.
fn a_first_result(dir: &Path, records: usize) -> PathBuf {
    let input = sample_slice(dir, records);
    let out = dir.join("out");
    let first = run_into(&input, &out, &["--k", "3"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    out
}

#[test]
fn a_run_that_fails_after_embedding_leaves_the_previous_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = a_first_result(dir.path(), 40);
    let before = snapshot(&out);
    let names: Vec<&str> = before.iter().map(|(n, _, _)| n.as_str()).collect();
    for f in [
        "embeddings.parquet",
        "documents.parquet",
        "topics.parquet",
        "run.json",
    ] {
        assert!(names.contains(&f), "{f} missing in {names:?}");
    }

    // Embedding succeeds, clustering fails (k above the 30 articles): nothing is published.
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let shorter = sample_slice(&dir.path().join("b"), 30);
    let failed = run_into(&shorter, &out, &["--k", "35"]);
    assert_fatal(&failed, &["35"]);
    assert_eq!(snapshot(&out), before, "the failed run changed the folder");
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
}

#[test]
fn a_second_job_into_an_output_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A whole-sample run takes seconds on the CPU: long enough to be caught at work.
    let mut first = spawn_whole_sample_run(&out);
    // The lock file holds the first job's id once it holds the lock.
    let lock = out.join(".newsclust.lock");
    let pid = first.id().to_string();
    let started = Instant::now();
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(pid.as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first run never locked its output"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let input = sample_slice(dir.path(), 20);
    let second = run_into(&input, &out, &["--k", "2"]);
    let busy = format!("in use by another newsclust job (process {pid})");
    if first.try_wait().unwrap().is_none() {
        assert_fatal(&second, &[&busy]);
    } else {
        eprintln!("the first run ended before the second started: its refusal is not checked");
    }
    let status = first.wait().unwrap();
    assert!(status.success(), "the first run failed");
    // The folder holds the first run's result, whole: every sample article.
    let docs = common::Table::read(&out.join("documents.parquet"));
    assert_eq!(docs.rows(), 304);
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
    // Free again once the first has ended.
    let third = run_into(&input, &out, &["--k", "2"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
}

#[test]
fn an_output_that_is_an_input_or_lies_in_an_input_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample_slice(dir.path(), 10);
    let original = std::fs::read(&input).unwrap();
    let model = model_dir();
    let embed =
        |i: &Path, o: &Path| newsclust(&["embed", "-q", "-i", s(i), "-m", s(&model), "-o", s(o)]);
    // embed -i a.jsonl -o a.jsonl: refused, the input untouched.
    assert_fatal(&embed(&input, &input), &["the output is also an input"]);
    assert_eq!(std::fs::read(&input).unwrap(), original);
    // embed -i shards -o shards/all.parquet: refused (a second run would read it back).
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    std::fs::copy(&input, shards.join("a.jsonl")).unwrap();
    let inside = shards.join("all.parquet");
    assert_fatal(
        &embed(&shards, &inside),
        &["all.parquet", "whose files are read as input"],
    );
    assert!(!inside.exists());
    // run -i DIR -o DIR, and cluster reading the folder it writes.
    assert_fatal(
        &run_into(&shards, &shards, &["--k", "2"]),
        &["whose files are read as input"],
    );
    let emb = dir.path().join("emb");
    let made = embed(&input, &emb.join("e.parquet"));
    assert_eq!(made.code, 0, "{}", made.stderr);
    let cluster = newsclust(&["cluster", "-q", "--embeddings", s(&emb), "-o", s(&emb)]);
    assert_fatal(&cluster, &["whose files are read as input"]);
    assert!(!emb.join("documents.parquet").exists());
}

#[test]
fn broken_and_looping_links_in_an_input_folder_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("in");
    std::fs::create_dir(&folder).unwrap();
    sample_slice(&folder, 5);
    let model = model_dir();
    let out = dir.path().join("out.parquet");
    let embed = || {
        newsclust(&[
            "embed",
            "-q",
            "-i",
            s(&folder),
            "-m",
            s(&model),
            "-o",
            s(&out),
        ])
    };
    let broken = folder.join("gone.jsonl");
    std::os::unix::fs::symlink(dir.path().join("nowhere.jsonl"), &broken).unwrap();
    let run = embed();
    assert_fatal(&run, &["gone.jsonl", "leads to no file"]);
    std::fs::remove_file(&broken).unwrap();
    let looping = folder.join("loop.jsonl");
    std::os::unix::fs::symlink(&looping, &looping).unwrap();
    let run = embed();
    assert_fatal(&run, &["loop.jsonl", "leads to no file"]);
    assert!(!out.exists());
    std::fs::remove_file(&looping).unwrap();
    // A link to a file is read like the file.
    std::os::unix::fs::symlink(folder.join("slice.jsonl"), folder.join("again.jsonl")).unwrap();
    let run = embed();
    assert_fatal(&run, &["twice"]);
}

#[test]
fn temporary_files_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample_slice(dir.path(), 8);
    let out = dir.path().join("e.parquet");
    // A process that has ended: its id names the temporary file a kill -9 would leave.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = dir.path().join(format!(".e.parquet.{dead}.tmp"));
    std::fs::write(&stale, b"half a file").unwrap();
    // One of a process that still runs (this test's) is left alone.
    let live = dir
        .path()
        .join(format!(".e.parquet.{}.tmp", std::process::id()));
    std::fs::write(&live, b"being written").unwrap();
    let model = model_dir();
    let run = newsclust(&["embed", "-i", s(&input), "-m", s(&model), "-o", s(&out)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!stale.exists(), "the dead run's file stayed");
    assert!(
        run.stderr.contains("left by a run that ended"),
        "{}",
        run.stderr
    );
    assert!(live.exists(), "a live process's file was removed");
    assert!(run.stderr.contains("is writing it"), "{}", run.stderr);
    assert!(out.exists());
}

#[test]
fn made_up_ids_never_collide_with_real_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Two records without ids, then real ids "0" and "1" (which positional ids used to take),
    // then a real "#3" before the record at position 3 (without an id) is reached, then a real
    // id equal to an id made earlier.
    let lines = [
        r##"{"title": "Chip maker opens a plant"}"##,
        r##"{"title": "Cloud alliance changes hands"}"##,
        r##"{"id": "0", "title": "Rates rise again"}"##,
        r##"{"id": "#4", "title": "A real id like a made-up one"}"##,
        r##"{"title": "Outage hits a payment network"}"##,
        r##"{"id": "1", "title": "Layoffs at a startup"}"##,
        r##"{"id": "#0", "title": "Takes the first record's made-up id"}"##,
    ];
    let input = dir.path().join("ids.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = dir.path().join("e.parquet");
    let model = model_dir();
    let run = newsclust(&["embed", "-i", s(&input), "-m", s(&model), "-o", s(&out)]);
    // One counted skip: the real "#0", which the first record was given before it came.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("duplicate id '#0': newsclust gave it to the record without an id at line 1"),
        "{}",
        run.stderr
    );
    let ids: Vec<String> = common::Table::read(&out)
        .strings("id")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids, ["#0", "#1", "0", "#4", "#4-2", "1"]);
}

fn stderr(ended: &std::process::Output) -> String {
    String::from_utf8_lossy(&ended.stderr).into_owned()
}

/// Every output of the whole sample's run, and nothing of the first (40-record) result.
fn assert_whole_new_result(out: &Path) {
    for name in ["documents.parquet", "embeddings.parquet"] {
        assert_eq!(common::Table::read(&out.join(name)).rows(), 304, "{name}");
    }
    let topics = common::Table::read(&out.join("topics.parquet"));
    assert_eq!(topics.rows(), 8, "topics of --k 8");
    let names: Vec<String> = snapshot(out).into_iter().map(|(n, _, _)| n).collect();
    for name in ["hierarchy.parquet", "report.html", "run.json"] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
}

#[test]
fn a_run_stopped_at_any_moment_leaves_the_old_result_or_the_new_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = a_first_result(dir.path(), 40);
    let old = snapshot(&out);
    // SIGTERM after each delay: while the model loads, while embedding, while clustering and
    // naming, or after the end. Each time the folder holds the old result or the whole new one.
    let mut outcomes = Vec::new();
    for delay_ms in [150u64, 600, 1200, 1800, 2600, 4000] {
        let child = spawn_whole_sample_run(&out);
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: a signal to our own child, which has not been reaped yet.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let ended = child.wait_with_output().unwrap();
        let code = ended.status.code();
        let now = snapshot(&out);
        assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
        match code {
            // Stopped after it published (between the renames and the exit): the new result
            // is whole, and the message says so.
            Some(143) if stderr(&ended).contains("published before it are whole") => {
                assert_ne!(now, old, "stopped after {delay_ms} ms: {}", stderr(&ended));
                assert_whole_new_result(&out);
            }
            Some(143) => assert_eq!(
                now,
                old,
                "stopped after {delay_ms} ms, the folder changed: {}",
                stderr(&ended)
            ),
            Some(0) => assert_whole_new_result(&out),
            other => panic!(
                "exit {other:?} after {delay_ms} ms: {}",
                String::from_utf8_lossy(&ended.stderr)
            ),
        }
        outcomes.push((delay_ms, code));
        if now != old {
            // Later runs would find the new result: stop here.
            break;
        }
    }
    assert!(
        outcomes.iter().any(|(_, c)| *c == Some(143)),
        "no run was stopped: {outcomes:?}"
    );
    eprintln!("delay (ms) and exit code: {outcomes:?}");
}

#[test]
fn a_half_published_folder_is_finished_by_the_next_job_that_locks_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = a_first_result(dir.path(), 30);
    // As a kill -9 between two renames would leave it: topics.parquet and run.json renamed,
    // documents.parquet still under its temporary name, the journal listing all three.
    let docs = out.join("documents.parquet");
    let temp = out.join(".documents.parquet.99999999.tmp");
    std::fs::rename(&docs, &temp).unwrap();
    std::fs::write(
        out.join(".newsclust.publish"),
        ".topics.parquet.99999999.tmp\ttopics.parquet\n.documents.parquet.99999999.tmp\tdocuments.parquet\n.run.json.99999999.tmp\trun.json\n",
    )
    .unwrap();
    // The next job into the folder fails (k above the article count), but first finishes the
    // publication it finds.
    let cluster = newsclust(&[
        "cluster",
        "--embeddings",
        s(&out.join("embeddings.parquet")),
        "-o",
        s(&out),
        "--k",
        "99",
    ]);
    assert_fatal(&cluster, &["99"]);
    assert!(
        cluster
            .stderr
            .contains("a run was stopped while publishing its outputs"),
        "{}",
        cluster.stderr
    );
    assert!(docs.exists() && !temp.exists());
    assert!(!out.join(".newsclust.publish").exists());
    assert_eq!(common::Table::read(&docs).rows(), 30);
}

/// A write that fails midway, as on a full disk: the process's file-size limit (`ulimit -f`,
/// with SIGXFSZ ignored so that the write returns EFBIG, the path ENOSPC takes too) stops the
/// embeddings file half written. The job fails naming the file, removes its temporary files and
/// leaves the previous result as it was.
#[test]
fn a_write_that_fails_midway_leaves_the_previous_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = a_first_result(dir.path(), 40);
    let old = snapshot(&out);
    let model = model_dir();
    let script = format!(
        "trap '' XFSZ; ulimit -f 200; exec '{}' run -q -i '{SAMPLE}' -m '{}' -o '{}' --k 8",
        env!("CARGO_BIN_EXE_newsclust"),
        s(&model),
        s(&out)
    );
    let ended = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    assert_eq!(ended.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("embeddings.parquet"), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(snapshot(&out), old, "the folder changed");
    assert!(temp_files(&out).is_empty(), "{:?}", temp_files(&out));
}
