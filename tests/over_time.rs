//! topics_over_time.parquet (issue 15, part 3): written beside the topics when documents carry
//! dates; counts per topic and period that add up to the dated documents, shares that add up
//! to 1 in each period, unreadable and missing dates counted in run.json (never failing the
//! run), periods of the asked size; a folder re-clustered without dates loses the old file.

mod common;

use std::collections::HashMap;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type};
use common::{model_dir, newsclust, Table};

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/datasets/tech_news_sample.jsonl"
);

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// (topic, period start as days since 1970, count, share) of each row.
fn rows(path: &Path) -> Vec<(i32, i32, i64, f64)> {
    let t = Table::read(path);
    let mut out = Vec::new();
    for b in &t.batches {
        let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
        let (topic, start, count, share) = (
            col("topic_id"),
            col("period_start"),
            col("count"),
            col("share"),
        );
        for i in 0..b.num_rows() {
            out.push((
                topic.as_primitive::<Int32Type>().value(i),
                start.as_primitive::<Date32Type>().value(i),
                count.as_primitive::<Int64Type>().value(i),
                share.as_primitive::<Float64Type>().value(i),
            ));
        }
    }
    out
}

#[test]
fn dated_documents_give_topics_over_time_and_bad_dates_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The sample, three dates made unreadable and two removed.
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, line) in lines.iter_mut().enumerate().take(5) {
        if i < 3 {
            line["date"] = serde_json::json!(format!("sometime in week {i}"));
        } else {
            line.as_object_mut().unwrap().remove("date");
        }
    }
    let input = dir.path().join("dated.jsonl");
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&input, body.join("\n") + "\n").unwrap();
    let out = dir.path().join("out");
    let model = model_dir();
    let run = newsclust(&[
        "run",
        "-i",
        s(&input),
        "-m",
        s(&model),
        "-o",
        s(&out),
        "--k",
        "8",
    ]);
    assert_eq!(
        run.code, 0,
        "unreadable dates never fail the run: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("3 of 304 dates in no form"),
        "{}",
        run.stderr
    );

    let got = rows(&out.join("topics_over_time.parquet"));
    let total: i64 = got.iter().map(|r| r.2).sum();
    assert_eq!(total, 299, "every document with a readable date, once");
    let mut per_period: HashMap<i32, f64> = HashMap::new();
    for (topic, start, count, share) in &got {
        assert!((0..8).contains(topic) && *count > 0, "{topic} {count}");
        *per_period.entry(*start).or_default() += share;
    }
    for (start, sum) in &per_period {
        assert!(
            (sum - 1.0).abs() < 1e-9,
            "period {start}: shares add up to {sum}"
        );
    }
    let columns = Table::read(&out.join("topics_over_time.parquet")).column_names();
    assert_eq!(
        columns,
        ["topic_id", "period_start", "count", "share", "keywords"]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let dates = &report["dates"];
    assert_eq!(dates["parsed"], 299);
    assert_eq!(dates["unparsed"], 3);
    assert_eq!(dates["missing"], 2);
    assert_eq!(dates["examples"][0], "sometime in week 0");
    assert_eq!(
        dates["periods"].as_u64().unwrap() as usize,
        per_period.len()
    );

    // Monthly periods start on the first of a month; the counts are the same documents.
    let embeddings = out.join("embeddings.parquet");
    let monthly = dir.path().join("monthly");
    let run = newsclust(&[
        "cluster",
        "-q",
        "--embeddings",
        s(&embeddings),
        "-o",
        s(&monthly),
        "--k",
        "8",
        "--time-bins",
        "month",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = rows(&monthly.join("topics_over_time.parquet"));
    assert_eq!(got.iter().map(|r| r.2).sum::<i64>(), 299);
    for (_, start, _, _) in &got {
        let (y, m, d) = newsclust::topics::dates::civil_from_days(*start as i64);
        assert_eq!(d, 1, "{y}-{m}-{d}");
    }

    // Re-clustered from vectors without dates, the folder has no topics_over_time.parquet
    // left from before, and run.json says nothing of dates.
    let table = Table::read(&embeddings);
    assert!(table.column_names().iter().any(|c| c == "date"));
    let bare: Vec<String> = lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("date");
            l.to_string()
        })
        .collect();
    let bare_input = dir.path().join("bare.jsonl");
    std::fs::write(&bare_input, bare.join("\n") + "\n").unwrap();
    let undated = dir.path().join("undated.parquet");
    let embedded = newsclust(&[
        "embed",
        "-q",
        "-i",
        s(&bare_input),
        "-m",
        s(&model),
        "-o",
        s(&undated),
    ]);
    assert_eq!(embedded.code, 0, "{}", embedded.stderr);
    let run = newsclust(&[
        "cluster",
        "-q",
        "--embeddings",
        s(&undated),
        "-o",
        s(&monthly),
        "--k",
        "8",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !monthly.join("topics_over_time.parquet").exists(),
        "a stale file stayed"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(monthly.join("run.json")).unwrap()).unwrap();
    assert!(report.get("dates").is_none(), "{report}");
}
