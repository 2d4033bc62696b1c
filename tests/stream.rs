//! Streaming clustering (issue 14, part 5): `cluster --stream on` reads the vectors in passes
//! and gives the in-memory run's result when its sample holds every row (the same k-means fit,
//! the same keywords, phrases and labels, the same files); with a small sample it still finds
//! the in-memory topics; its outputs agree with themselves (sizes, representatives, periods);
//! and HDBSCAN, which needs every vector, is refused.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type};
use arrow_array::Array;
use common::{assert_fatal, model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The sample embedded as 4 parts (4 files: the passes read several batches).
fn parts(dir: &Path) -> PathBuf {
    let prefix = dir.join("parts");
    let model = model_dir();
    for i in 0..4 {
        let shard = format!("{i}/4");
        let run = newsclust(&[
            "embed",
            "-q",
            "-i",
            SAMPLE,
            "-m",
            s(&model),
            "-o",
            s(&prefix),
            "--shard",
            &shard,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    prefix
}

fn cluster(embeddings: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "cluster",
        "--embeddings",
        s(embeddings),
        "-o",
        s(out),
        "--k",
        "8",
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    let run = newsclust(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn ints(t: &Table, name: &str) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for b in &t.batches {
        let col = b.column_by_name(name).unwrap();
        let col = arrow_cast::cast(col, &arrow_schema::DataType::Int64).unwrap();
        let col = col.as_primitive::<Int64Type>();
        out.extend((0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i))));
    }
    out
}

fn floats(t: &Table, name: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for b in &t.batches {
        let col = b.column_by_name(name).unwrap();
        out.extend(col.as_primitive::<Float32Type>().values().iter().copied());
    }
    out
}

fn lists(t: &Table, name: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in &t.batches {
        let col = b.column_by_name(name).unwrap().as_list::<i32>();
        for i in 0..col.len() {
            let v = col.value(i);
            let v = v.as_string::<i32>();
            out.push((0..v.len()).map(|j| v.value(j).to_string()).collect());
        }
    }
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Normalized mutual information of two labelings (arithmetic mean of the entropies).
fn nmi(a: &[i64], b: &[i64]) -> f64 {
    let n = a.len() as f64;
    let mut joint: HashMap<(i64, i64), f64> = HashMap::new();
    let (mut pa, mut pb): (HashMap<i64, f64>, HashMap<i64, f64>) = Default::default();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1.0;
        *pa.entry(x).or_default() += 1.0;
        *pb.entry(y).or_default() += 1.0;
    }
    let h = |p: &HashMap<i64, f64>| -p.values().map(|c| c / n * (c / n).ln()).sum::<f64>();
    let mi: f64 = joint
        .iter()
        .map(|(&(x, y), &c)| c / n * (c * n / (pa[&x] * pb[&y])).ln())
        .sum();
    2.0 * mi / (h(&pa) + h(&pb))
}

#[test]
fn a_stream_whose_sample_holds_every_row_gives_the_in_memory_result() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = parts(dir.path());
    let (memory, streamed) = (dir.path().join("memory"), dir.path().join("streamed"));
    cluster(&prefix, &memory, &["--stream", "off", "--with-embeddings"]);
    cluster(
        &prefix,
        &streamed,
        &[
            "--stream",
            "on",
            "--stream-sample",
            "100000",
            "--with-embeddings",
        ],
    );
    let (dm, ds) = (
        Table::read(&memory.join("documents.parquet")),
        Table::read(&streamed.join("documents.parquet")),
    );
    assert_eq!(ds.rows(), 304);
    assert_eq!(dm.column_names(), ds.column_names());
    assert_eq!(dm.strings("id"), ds.strings("id"));
    assert_eq!(ints(&dm, "topic_id"), ints(&ds, "topic_id"));
    assert_eq!(dm.strings("topic_label"), ds.strings("topic_label"));
    assert_eq!(
        dm.embeddings(),
        ds.embeddings(),
        "the vectors as the input has them"
    );
    for (a, b) in floats(&dm, "similarity")
        .iter()
        .zip(floats(&ds, "similarity"))
    {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let (tm, ts) = (
        Table::read(&memory.join("topics.parquet")),
        Table::read(&streamed.join("topics.parquet")),
    );
    for column in ["label", "keyword_label", "phrase", "theme"] {
        assert_eq!(tm.strings(column), ts.strings(column), "{column}");
    }
    assert_eq!(lists(&tm, "keywords"), lists(&ts, "keywords"));
    assert_eq!(ints(&tm, "size"), ints(&ts, "size"));
    assert_eq!(
        lists(&tm, "representative_ids"),
        lists(&ts, "representative_ids")
    );
    let (om, os) = (
        Table::read(&memory.join("topics_over_time.parquet")),
        Table::read(&streamed.join("topics_over_time.parquet")),
    );
    assert_eq!(ints(&om, "topic_id"), ints(&os, "topic_id"));
    assert_eq!(ints(&om, "count"), ints(&os, "count"));
    assert_eq!(lists(&om, "keywords"), lists(&os, "keywords"));
    // The same topic tree, its nodes named alike.
    let (hm, hs) = (
        Table::read(&memory.join("hierarchy.parquet")),
        Table::read(&streamed.join("hierarchy.parquet")),
    );
    assert!(hm.rows() > 1);
    for column in [
        "node_id",
        "parent_id",
        "children",
        "size",
        "label",
        "topic_ids",
    ] {
        assert_eq!(hm.strings(column), hs.strings(column), "{column}");
    }
    assert_eq!(lists(&hm, "keywords"), lists(&hs, "keywords"));
    let report = json(&streamed.join("run.json"));
    assert_eq!(report["streamed"]["sample_rows"], 304, "{report}");
    assert!(report["streamed"]["passes"].as_u64().unwrap() >= 1);
    assert!(json(&memory.join("run.json")).get("streamed").is_none());
}

#[test]
fn a_small_sample_finds_the_in_memory_topics_and_the_outputs_agree() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = parts(dir.path());
    let (memory, streamed) = (dir.path().join("memory"), dir.path().join("streamed"));
    cluster(&prefix, &memory, &["--stream", "off"]);
    cluster(
        &prefix,
        &streamed,
        &[
            "--stream",
            "on",
            "--stream-sample",
            "100",
            "--naming",
            "keywords",
        ],
    );
    let report = json(&streamed.join("run.json"));
    let sampled = report["streamed"]["sample_rows"].as_u64().unwrap();
    assert!((60..=140).contains(&sampled), "{report}");
    let (dm, ds) = (
        Table::read(&memory.join("documents.parquet")),
        Table::read(&streamed.join("documents.parquet")),
    );
    let topics = |t: &Table| -> Vec<i64> {
        ints(t, "topic_id")
            .into_iter()
            .map(Option::unwrap)
            .collect()
    };
    let (a, b) = (topics(&dm), topics(&ds));
    let agreement = nmi(&a, &b);
    assert!(agreement > 0.8, "NMI between the two runs {agreement:.3}");
    // Sizes: topics.parquet's are the documents', largest first, summing to every document.
    let ts = Table::read(&streamed.join("topics.parquet"));
    let sizes: Vec<i64> = ints(&ts, "size").into_iter().map(Option::unwrap).collect();
    assert_eq!(sizes.iter().sum::<i64>(), 304);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    for (t, &size) in sizes.iter().enumerate() {
        assert_eq!(b.iter().filter(|&&x| x == t as i64).count() as i64, size);
    }
    // Representatives: the topic's own documents, most similar first.
    let ids = ds.strings("id");
    let sim = floats(&ds, "similarity");
    let row: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone().unwrap(), i))
        .collect();
    for (t, reps) in lists(&ts, "representative_ids").iter().enumerate() {
        assert!(!reps.is_empty());
        let rows: Vec<usize> = reps.iter().map(|id| row[id]).collect();
        assert!(rows.iter().all(|&r| b[r] == t as i64));
        assert!(rows.windows(2).all(|w| sim[w[0]] >= sim[w[1]]));
        let best = (0..304)
            .filter(|&r| b[r] == t as i64)
            .map(|r| sim[r])
            .fold(f32::MIN, f32::max);
        assert_eq!(sim[rows[0]], best);
    }
    // Topics over time: each topic's counts add up to its dated documents.
    let ot = Table::read(&streamed.join("topics_over_time.parquet"));
    let mut per_topic: HashMap<i64, i64> = HashMap::new();
    for (t, c) in ints(&ot, "topic_id").iter().zip(ints(&ot, "count")) {
        *per_topic.entry(t.unwrap()).or_default() += c.unwrap();
    }
    let dates = ds.strings("date");
    for (t, &size) in sizes.iter().enumerate() {
        let dated = (0..304)
            .filter(|&r| b[r] == t as i64 && dates[r].is_some())
            .count() as i64;
        assert_eq!(
            per_topic.get(&(t as i64)).copied().unwrap_or(0),
            dated,
            "topic {t} of {size}"
        );
    }
    let labels = ts.strings("label");
    let mut unique = labels.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), labels.len(), "{labels:?}");
}

#[test]
fn streaming_refuses_hdbscan_and_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = parts(dir.path());
    let out = dir.path().join("out");
    let run = newsclust(&[
        "cluster",
        "--embeddings",
        s(&prefix),
        "-o",
        s(&out),
        "--algorithm",
        "hdbscan",
        "--stream",
        "on",
    ]);
    assert_fatal(&run, &["--stream", "k-means only"]);
    assert!(!out.exists());
    // A sample smaller than k: a clear error naming the setting.
    let run = newsclust(&[
        "cluster",
        "--embeddings",
        s(&prefix),
        "-o",
        s(&out),
        "--k",
        "8",
        "--stream",
        "on",
        "--stream-sample",
        "1",
    ]);
    assert_fatal(&run, &["8 clusters", "--stream-sample"]);
    assert!(!out.exists());
}
