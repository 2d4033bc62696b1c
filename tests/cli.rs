//! The `embed` command end to end: output schema and metadata, input formats, and every kind of
//! bad input named in the issue (a clear error with exit 2 and no output, or a counted skip with exit 3).

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{model_dir, newsclust, Table};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

fn embed(input: &str, out: &Path, extra: &[&str]) -> common::Run {
    let model = model_dir();
    let mut args = vec![
        "embed",
        "--input",
        input,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    newsclust(&args)
}

/// No output file and no temporary file left in `dir` besides the inputs.
fn assert_no_output(out: &Path) {
    assert!(!out.exists(), "{} must not exist", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn sample_output_has_schema_metadata_and_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/sample.parquet");
    let input = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/tech_news_sample.jsonl"
    );
    let run = embed(input, &out, &["--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("INFO"),
        "--quiet hides info lines: {}",
        run.stderr
    );
    let table = Table::read(&out);
    let lines = std::fs::read_to_string(input).unwrap().lines().count();
    assert_eq!(table.rows(), lines);
    assert_eq!(
        table.column_names(),
        [
            "id",
            "title",
            "text",
            "date",
            "label",
            "source",
            "n_tokens",
            "truncated",
            "embedding"
        ]
    );
    let schema = table.batches[0].schema();
    assert_eq!(
        schema.field_with_name("embedding").unwrap().data_type(),
        &arrow_schema::DataType::FixedSizeList(
            Arc::new(arrow_schema::Field::new(
                "item",
                arrow_schema::DataType::Float32,
                false
            )),
            384
        )
    );
    assert_eq!(table.meta("newsclust.model_id"), Some(common::MODEL_ID));
    assert_eq!(
        table.meta("newsclust.model_revision"),
        Some("c9745ed1d9f207416be6d2e6f8de32d1f16199bf")
    );
    assert_eq!(table.meta("newsclust.pooling"), Some("mean"));
    assert_eq!(table.meta("newsclust.normalize"), Some("true"));
    assert_eq!(table.meta("newsclust.dimension"), Some("384"));
    assert_eq!(table.meta("newsclust.max_length"), Some("256"));
    assert_eq!(
        table.meta("newsclust.version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let ids = table.strings("id");
    assert_eq!(ids[0].as_deref(), Some("nc-0000"));
    assert!(table.strings("label").iter().all(|l| l.is_some()));
}

#[test]
fn csv_without_header_maps_columns_and_numbers_ids_by_position() {
    let dir = tempfile::tempdir().unwrap();
    // Quoted fields, a doubled quote, a comma and a newline inside quotes.
    let csv = b"\"4\",\"Chip maker \"\"wins\"\" order\",\"Deal, signed today.\nMore text.\"\n\"2\",\"Cloud outage\",\"Region down\"\n\"1\",\"Third\",\"\"\n";
    let input = write(dir.path(), "ag.csv", csv);
    let out = dir.path().join("o.parquet");
    let run = embed(
        &input,
        &out,
        &[
            "--no-header",
            "--columns",
            "label,title,text",
            "--limit",
            "2",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(
        t.strings("id"),
        vec![Some("#0".into()), Some("#1".into())],
        "--limit 2 and positional ids"
    );
    assert_eq!(
        t.strings("title")[0].as_deref(),
        Some("Chip maker \"wins\" order")
    );
    assert_eq!(t.strings("label"), vec![Some("4".into()), Some("2".into())]);
}

#[test]
fn csv_header_with_field_override_and_bom() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "hn.csv",
        "\u{feff}id,headline,url\n7,Show HN: a tiny database,http://x\n8,Ask HN: GPUs,http://y\n"
            .as_bytes(),
    );
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &["--field", "title=headline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(t.strings("id"), vec![Some("7".into()), Some("8".into())]);
    assert_eq!(t.strings("title")[1].as_deref(), Some("Ask HN: GPUs"));
    assert_eq!(
        t.strings("url")[0].as_deref(),
        Some("http://x"),
        "other columns pass through"
    );
}

#[test]
fn parquet_input_is_read_in_batches() {
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    let titles: Vec<String> = (0..50)
        .map(|i| format!("Startup number {i} raises a seed round"))
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("title", Arc::new(StringArray::from(titles.clone())) as _),
        (
            "label",
            Arc::new(Int64Array::from(
                (0..50).map(|i| i % 3).collect::<Vec<i64>>(),
            )) as _,
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(&input).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = dir.path().join("o.parquet");
    let run = embed(input.to_str().unwrap(), &out, &["--batch-size", "7"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(t.rows(), 50);
    assert_eq!(t.strings("title")[49].as_deref(), Some(titles[49].as_str()));
    assert_eq!(
        t.strings("label")[4].as_deref(),
        Some("1"),
        "numbers become text"
    );
}

#[test]
fn parquet_input_without_text_columns_is_fatal() {
    use arrow_array::{Int64Array, RecordBatch};
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    let batch =
        RecordBatch::try_from_iter(vec![("score", Arc::new(Int64Array::from(vec![1, 2])) as _)])
            .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&input).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let out = dir.path().join("o.parquet");
    let run = embed(input.to_str().unwrap(), &out, &[]);
    common::assert_fatal(&run, &["in.parquet", "no 'title' or 'text' column"]);
    assert_no_output(&out);
}

#[test]
fn missing_input_file_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.parquet");
    let run = embed(dir.path().join("nope.jsonl").to_str().unwrap(), &out, &[]);
    common::assert_fatal(&run, &["nope.jsonl", "cannot open input"]);
    // The reason once: the error names it, and the CLI does not repeat it from the error's source.
    let reason = std::fs::File::open(dir.path().join("nope.jsonl"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        run.stderr.matches(reason.as_str()).count(),
        1,
        "{}",
        run.stderr
    );
    assert_no_output(&out);
}

#[test]
fn unknown_columns_name_is_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "a.csv", b"1,a,b\n");
    let out = dir.path().join("o.parquet");
    let run = embed(
        &input,
        &out,
        &["--no-header", "--columns", "label,titel,text"],
    );
    common::assert_fatal(&run, &["unknown column name 'titel'"]);
    assert_no_output(&out);
}

#[test]
fn bad_records_are_reported_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut jsonl = Vec::new();
    jsonl
        .extend_from_slice(b"{\"id\": \"a\", \"title\": \"Good one\", \"text\": \"Fine text.\"}\n");
    jsonl.extend_from_slice(b"{\"id\": \"b\", \"title\": \"Broken\", \"text\": \n"); // line 2: malformed
    jsonl.extend_from_slice(b"{\"id\": \"c\", \"title\": \"Bad \xff bytes\"}\n"); // line 3: invalid UTF-8
    jsonl.extend_from_slice(b"{\"id\": \"d\", \"title\": \"   \", \"text\": \"\\t\"}\n"); // line 4: empty
    jsonl.extend_from_slice(b"{\"id\": \"a\", \"title\": \"Same id\"}\n"); // line 5: duplicate id
    jsonl.extend_from_slice(b"[1, 2]\n"); // line 6: not an object
    jsonl.extend_from_slice(b"\n{\"id\": \"g\", \"title\": [\"x\"]}\n"); // line 8: title not a string
    jsonl.extend_from_slice(b"{\"id\": \"h\", \"text\": \"Another good one\"}\n");
    let input = write(dir.path(), "in.jsonl", &jsonl);
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for expected in [
        "in.jsonl: line 2: malformed JSON",
        "in.jsonl: line 3: not valid UTF-8",
        "in.jsonl: line 4: nothing to embed",
        "in.jsonl: line 5: duplicate id 'a' (first at line 1)",
        "in.jsonl: line 6: expected a JSON object",
        "in.jsonl: line 8: field 'title' must be a string",
        "6 of 8 records skipped",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        Table::read(&out).strings("id"),
        vec![Some("a".into()), Some("h".into())]
    );
}

#[test]
fn jsonl_keys_missing_from_the_first_record_are_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = concat!(
        "{\"id\": \"a\", \"title\": \"Chip alliance grows\", \"source\": \"wire\"}\r\n",
        "{\"id\": \"b\", \"title\": \"Cloud shifts\", \"date\": \"2020-01-01\", \"extra\": 1}\r\n",
        "{\"id\": \"c\", \"title\": \"More\", \"date\": \"2020-01-02\", \"extra\": 2}\r\n",
    );
    let input = write(dir.path(), "in.jsonl", jsonl.as_bytes());
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &[]);
    // Nothing is skipped: the records are whole, only those keys are not kept.
    assert_eq!(run.code, 0, "{}", run.stderr);
    for key in ["date", "extra"] {
        let line = format!("in.jsonl: line 2: key '{key}' is not among the first record's keys");
        assert_eq!(run.stderr.matches(&line).count(), 1, "{}", run.stderr);
        assert_eq!(run.stderr.matches(&format!("key '{key}'")).count(), 1);
    }
    assert!(!run.stderr.contains("key 'source'"), "{}", run.stderr);
    let table = Table::read(&out);
    let schema = table.batches[0].schema();
    assert!(schema.field_with_name("date").is_err());
    assert_eq!(
        table.strings("source"),
        vec![Some("wire".into()), None, None]
    );
}

#[test]
fn csv_bad_records_name_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"id,title,text\n1,Good,Body\n2,Too,many,fields\n3,Bad \xc3\x28 utf8,Body\n4,Fine,Also fine\n";
    let input = write(dir.path(), "in.csv", csv);
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("in.csv: line 3: expected 3 fields, found 4"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("in.csv: line 4: field 'title' is not valid UTF-8"),
        "{}",
        run.stderr
    );
    assert_eq!(Table::read(&out).rows(), 2);
}

#[test]
fn strict_makes_a_bad_record_fatal_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        b"{\"title\": \"ok\"}\n{\"title\": \"\"}\n",
    );
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &["--strict"]);
    common::assert_fatal(&run, &["line 2", "--strict"]);
    assert_no_output(&out);
}

#[test]
fn all_records_bad_is_fatal_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", b"{\"title\": \"\"}\nnot json\n");
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &[]);
    common::assert_fatal(
        &run,
        &["no article could be embedded: all 2 records were skipped"],
    );
    assert_no_output(&out);

    // A header and nothing else.
    let input = write(dir.path(), "in.csv", b"id,title,text\n");
    let run = embed(&input, &out, &[]);
    common::assert_fatal(
        &run,
        &["no article could be embedded: the input holds no records"],
    );
    assert_no_output(&out);
}

fn broken_model(dir: &Path, change: impl FnOnce(&Path)) -> std::path::PathBuf {
    common::model_copy(&dir.join("model"), change)
}

/// Embeds one good record with `model`; returns the run and the output path.
fn embed_with_model(dir: &Path, model: &Path) -> (common::Run, std::path::PathBuf) {
    let input = write(dir, "in.jsonl", b"{\"title\": \"ok\"}\n");
    let out = dir.join("o.parquet");
    let run = newsclust(&[
        "embed",
        "--input",
        &input,
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    (run, out)
}

#[test]
fn model_without_tokenizer_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let model = broken_model(dir.path(), |m| {
        std::fs::remove_file(m.join("tokenizer.json")).unwrap()
    });
    let (run, out) = embed_with_model(dir.path(), &model);
    common::assert_fatal(&run, &["tokenizer.json", "install-default.sh"]);
    assert_no_output(&out);
}

#[test]
fn truncated_weights_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = broken_model(dir.path(), |m| {
        let w = m.join("model.safetensors");
        let bytes = std::fs::read(&w).unwrap();
        std::fs::remove_file(&w).unwrap();
        std::fs::write(&w, &bytes[..bytes.len() / 3]).unwrap();
    });
    let (run, out) = embed_with_model(dir.path(), &model);
    common::assert_fatal(&run, &["model.safetensors", "truncated"]);
    assert_no_output(&out);
}

#[test]
fn corrupt_installed_model_fails_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let installed = models.join(common::MODEL_ID);
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    let tmp = broken_model(dir.path(), |m| {
        std::fs::write(m.join("tokenizer.json"), b"{}").unwrap()
    });
    std::fs::rename(tmp, &installed).unwrap();
    let input = write(dir.path(), "in.jsonl", b"{\"title\": \"ok\"}\n");
    let out = dir.path().join("o.parquet");
    let run = newsclust(&[
        "embed",
        "--input",
        &input,
        "--models-dir",
        models.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    common::assert_fatal(&run, &["tokenizer.json", "sha256"]);
    assert_no_output(&out);
}

#[test]
fn bad_flags_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.jsonl", b"{\"title\": \"ok\"}\n");
    let out = dir.path().join("o.parquet");
    let run = embed(&input, &out, &["--device", "cuda"]);
    // One outcome per build (and, for a CUDA build, per machine): a build without CUDA says so;
    // a CUDA build embeds where a GPU answers and names why not where none does.
    let gpu = newsclust::device::DeviceChoice::Cuda(0).open().is_ok();
    let (code, says) = match (cfg!(feature = "cuda"), gpu) {
        (false, _) => (2, "built without CUDA"),
        (true, true) => (0, ""),
        (true, false) => (2, "is not usable"),
    };
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(run.stderr.contains(says), "{}", run.stderr);
    let _ = std::fs::remove_file(&out);
    let run = embed(&input, &out, &["--device", "cpu", "--dtype", "f16"]);
    common::assert_fatal(&run, &["--dtype f16 needs a CUDA device"]);
    let run = embed(&input, &out, &["--device", "cuda:7"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = embed(&input, &out, &["--batch-size", "0"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = embed(&input, &out, &["--max-length", "100000"]);
    common::assert_fatal(&run, &["max length"]);
    assert_no_output(&out);
}

#[test]
fn bench_times_the_cpu_and_skips_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.parquet");
    let input = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/tech_news_sample.jsonl"
    );
    let model = model_dir();
    let run = newsclust(&[
        "bench",
        "--input",
        input,
        "--limit",
        "40",
        "--model",
        model.to_str().unwrap(),
        "--devices",
        "cpu",
        "--dtypes",
        "f32,f16",
        "--repeat",
        "1",
        "--k",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("skipping cpu/f16"), "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(t.rows(), 1);
    assert_eq!(t.strings("device"), vec![Some("cpu".to_string())]);
    assert_eq!(t.strings("docs"), vec![Some("40".to_string())]);
    assert_eq!(
        t.strings("speedup_vs_cpu_f32"),
        vec![Some("1.0".to_string())]
    );
    let rate: f64 = t.strings("docs_per_s")[0]
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rate > 0.0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).unwrap())
            .unwrap();
    assert_eq!(json[0]["dtype"], "f32");
    assert!(json[0]["peak_rss_mib"].as_f64().unwrap() > 10.0);
}

#[test]
fn hub_ids_resolve_through_the_hub_cache_offline() {
    // A Hugging Face cache laid out as hf-hub writes it, holding the default model.
    let dir = tempfile::tempdir().unwrap();
    let rev = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";
    let repo = dir
        .path()
        .join("hf/hub/models--sentence-transformers--all-MiniLM-L6-v2");
    common::model_copy(&repo.join("snapshots").join(rev), |_| {});
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), rev).unwrap();
    let empty = dir.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let input = write(
        dir.path(),
        "in.jsonl",
        b"{\"title\": \"GPU prices fall\"}\n",
    );
    let out = dir.path().join("o.parquet");
    let hf_home = dir.path().join("hf");
    let args = [
        "embed",
        "--input",
        &input,
        "--model",
        common::MODEL_ID,
        "--models-dir",
        empty.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let run = common::newsclust_with_env(&args, &[("HF_HOME", &hf_home)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(t.meta("newsclust.model_revision"), Some(rev));
    // Not in the cache, offline: a clear error naming the hint.
    std::fs::remove_file(repo.join("refs/main")).unwrap();
    let run = common::newsclust_with_env(&args, &[("HF_HOME", &hf_home)]);
    common::assert_fatal(&run, &["HF_HUB_OFFLINE", "install-default.sh"]);
}

#[test]
fn zero_counts_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.csv", b"id,title\n1,A title\n");
    let out = dir.path().join("o.parquet");
    for flag in ["--limit", "--threads"] {
        let run = embed(&input, &out, &[flag, "0"]);
        common::assert_fatal(&run, &[&format!("invalid value '0' for '{flag}")]);
        assert_no_output(&out);
    }
}

#[test]
fn an_interrupted_job_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    // Enough texts that the CPU is still embedding when the signal comes.
    let mut csv = String::from("id,title,text\n");
    for i in 0..4000 {
        csv.push_str(&format!(
            "{i},Chip makers and cloud firms report quarter {i},Revenue moved as data centre demand grew in region {i}.\n"
        ));
    }
    let input = write(dir.path(), "in.csv", csv.as_bytes());
    let out_dir = dir.path().join("out");
    let out = out_dir.join("o.parquet");
    let model = model_dir();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_newsclust"))
        .args(["embed", "-q", "--input", &input, "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the output's temporary file exists: the job is writing.
    let started = std::time::Instant::now();
    let temp_exists = || {
        std::fs::read_dir(&out_dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            })
            .unwrap_or(false)
    };
    while !temp_exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("1 unfinished output file(s) removed"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn several_files_and_folders_are_read_as_one_input() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    // No id column: ids are `#` and the position in the whole input. The second shard lacks `source`
    // (null there) and brings `lang` (left out: the first file's columns are the output's).
    write(
        &shards,
        "01.csv",
        b"title,text,source\nChip deal,Foundry signs a buyer.,wire\nCloud outage,A region is down.,blog\n",
    );
    write(
        &shards,
        "02.jsonl",
        concat!(
            "{\"title\": \"Phone launch\", \"text\": \"A new model.\", \"lang\": \"en\"}\n",
            "{\"id\": \"z\", \"title\": \"Same id as the last article\"}\n",
        )
        .as_bytes(),
    );
    // Neither is an input: hidden, or not of an input kind.
    write(&shards, ".half-written.csv", b"title\nnever read\n");
    write(&shards, "notes.txt", b"not an input\n");
    let last = write(
        dir.path(),
        "last.jsonl",
        b"{\"id\": \"z\", \"title\": \"Robot startup funded\", \"source\": \"feed\"}\n",
    );
    let out = dir.path().join("o.parquet");
    let model = model_dir();
    let folder = shards.to_str().unwrap();
    let args = |out: &Path, inputs: &[&str], extra: &[&str]| {
        let mut args = vec!["embed", "--model", model.to_str().unwrap(), "-o"];
        args.push(out.to_str().unwrap());
        args.push("--input");
        args.extend_from_slice(inputs);
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run_with = |out: &Path, inputs: &[&str], extra: &[&str]| {
        let owned = args(out, inputs, extra);
        newsclust(&owned.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let run = run_with(&out, &[folder, &last], &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for expected in [
        "last.jsonl: line 1: duplicate id 'z' (first in ",
        "02.jsonl, line 2)",
        "02.jsonl: lacks column 'source' of ",
        "02.jsonl: column 'lang' left out",
        "from 3 input files",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("last.jsonl: lacks"), "{}", run.stderr);
    let t = Table::read(&out);
    assert_eq!(
        t.strings("id"),
        vec![
            Some("#0".into()),
            Some("#1".into()),
            Some("#2".into()),
            Some("z".into())
        ]
    );
    assert_eq!(
        t.strings("source"),
        vec![Some("wire".into()), Some("blog".into()), None, None]
    );
    assert!(t.batches[0].schema().field_with_name("lang").is_err());

    // --limit counts across files.
    let limited = dir.path().join("limited.parquet");
    let run = run_with(&limited, &[folder, &last], &["--limit", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(Table::read(&limited).strings("id").len(), 3);

    // A file named twice (here once through its folder), and a folder without inputs: exit 2.
    let never = dir.path().join("never.parquet");
    let twice = shards.join("01.csv");
    let run = run_with(&never, &[folder, twice.to_str().unwrap()], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("01.csv: given twice as input"),
        "{}",
        run.stderr
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let run = run_with(&never, &[empty.to_str().unwrap()], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no input files in this folder"),
        "{}",
        run.stderr
    );
    assert_no_output(&never);
}

#[test]
fn gzip_and_zstd_inputs_are_read_as_their_text() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = concat!(
        "{\"id\": \"a\", \"title\": \"Chip alliance grows\", \"text\": \"Two foundries join.\"}\n",
        "{\"id\": \"b\", \"title\": \"Cloud prices fall\"}\n",
        "{\"id\": \"c\", \"title\": \"Broken\", \"text\": \n",
        "{\"id\": \"d\", \"text\": \"Battery startup raises funds.\"}\n",
    );
    let plain = write(dir.path(), "in.jsonl", jsonl.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(jsonl.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(jsonl.as_bytes(), 3).unwrap();
    let ids = |out: &Path| Table::read(out).strings("id");
    let vectors = |out: &Path| Table::read(out).embeddings();
    let want = dir.path().join("plain.parquet");
    assert_eq!(embed(&plain, &want, &[]).code, 3);
    for (name, bytes) in [("in.jsonl.gz", &gz), ("in.ndjson.zst", &zst)] {
        let input = write(dir.path(), name, bytes);
        let out = dir.path().join(format!("{name}.parquet"));
        let run = embed(&input, &out, &[]);
        // The same records, the same bad line named by its number in the decompressed text.
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("{name}: line 3: malformed JSON")),
            "{}",
            run.stderr
        );
        assert_eq!(ids(&out), ids(&want));
        assert_eq!(vectors(&out), vectors(&want));
    }
    // A cut-off archive stops the job with its name; no output is left.
    let cut = write(dir.path(), "cut.jsonl.gz", &gz[..gz.len() - 12]);
    let out = dir.path().join("cut.parquet");
    let run = embed(&cut, &out, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("cut.jsonl.gz"), "{}", run.stderr);
    assert_no_output(&out);
    // Parquet compresses its own pages: a compressed Parquet file is refused, saying so.
    let pq = write(dir.path(), "t.parquet.gz", &gz);
    let run = embed(&pq, &out, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("compressed Parquet"), "{}", run.stderr);
}
