//! `--k auto` (issue 15, part 1) on the sample, whose articles carry their gold topic: for seeds
//! 1, 7 and 42 the count chosen is the number of gold topics and its NMI is at least that of
//! k-means told that number (within 0.005), and run.json's scores name the count chosen.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{cluster_sample, eval_json, SAMPLE};

/// The sample's gold topics, read from its `label` field.
fn gold_topics() -> usize {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let labels: BTreeSet<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["label"]
                .as_str()
                .expect("a label on every line")
                .to_string()
        })
        .collect();
    labels.len()
}

/// `cluster --k K --seed SEED` into `out`: its run.json and its NMI against the gold column.
fn cluster(out: &Path, k: &str, seed: u64) -> (serde_json::Value, f64) {
    let seed = seed.to_string();
    let run = cluster_sample(out, &["--k", k, "--seed", &seed, "--naming", "keywords"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let scores = eval_json(&out.join("documents.parquet"));
    (meta, scores["all"]["nmi"].as_f64().unwrap())
}

#[test]
fn auto_chooses_the_gold_count_of_the_sample_for_every_seed() {
    let gold = gold_topics();
    assert!(gold >= 4, "the sample has {gold} topics");
    let dir = tempfile::tempdir().unwrap();
    for seed in [1, 7, 42] {
        let (meta, nmi) = cluster(&dir.path().join(format!("auto-{seed}")), "auto", seed);
        let chosen = meta["counts"]["topics"].as_u64().unwrap() as usize;
        let (_, at_gold) = cluster(
            &dir.path().join(format!("gold-{seed}")),
            &gold.to_string(),
            seed,
        );
        assert_eq!(chosen, gold, "seed {seed}: {}", meta["k_scores"]);
        assert!(
            nmi >= at_gold - 0.005,
            "seed {seed}: NMI {nmi} against {at_gold} at k = {gold}"
        );

        // The scores kept: one per count from 2, the chosen count's the best of those scored.
        let scores = meta["k_scores"].as_array().unwrap();
        assert_eq!(scores[0]["k"], 2);
        let best = scores
            .iter()
            .filter_map(|s| Some((s["k"].as_u64()?, s["score"].as_f64()?)))
            .fold(None, |b: Option<(u64, f64)>, (k, v)| match b {
                Some((_, bv)) if bv >= v => b,
                _ => Some((k, v)),
            });
        assert_eq!(best.map(|b| b.0 as usize), Some(chosen), "seed {seed}");
        for s in scores {
            let stability = s["stability"].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&stability), "{s}");
        }
    }
}
