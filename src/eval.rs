//! Clustering quality against gold labels: NMI (arithmetic mean normalization), ARI (Hubert &
//! Arabie 1985), homogeneity, completeness and V-measure (Rosenberg & Hirschberg 2007), with the
//! same conventions as scikit-learn's `sklearn.metrics.cluster`.

use std::collections::HashMap;

/// The scores of one comparison.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Scores {
    pub n: usize,
    pub nmi: f64,
    pub ari: f64,
    pub homogeneity: f64,
    pub completeness: f64,
    pub v_measure: f64,
}

/// Compares predicted clusters with gold classes (any hashable labels, same length).
pub fn score<A: std::hash::Hash + Eq, B: std::hash::Hash + Eq>(gold: &[A], pred: &[B]) -> Scores {
    assert_eq!(gold.len(), pred.len(), "one prediction per gold label");
    let n = gold.len();
    let g = dense(gold);
    let p = dense(pred);
    let (ng, np) = (
        g.iter().max().map_or(0, |m| m + 1),
        p.iter().max().map_or(0, |m| m + 1),
    );
    let mut counted: HashMap<(usize, usize), f64> = HashMap::new();
    for (&a, &b) in g.iter().zip(&p) {
        *counted.entry((a, b)).or_default() += 1.0;
    }
    // The cells in a fixed order, so the sums below come out the same in every process (a
    // HashMap's order is seeded per process and moved the NMI's last digit).
    let mut table: Vec<((usize, usize), f64)> = counted.into_iter().collect();
    table.sort_unstable_by_key(|cell| cell.0);
    let mut rows = vec![0f64; ng];
    let mut cols = vec![0f64; np];
    for &((a, b), c) in &table {
        rows[a] += c;
        cols[b] += c;
    }
    let nf = n as f64;
    let entropy = |counts: &[f64]| -> f64 {
        counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|&c| -(c / nf) * (c / nf).ln())
            .sum()
    };
    let (hg, hp) = (entropy(&rows), entropy(&cols));
    let mi: f64 = table
        .iter()
        .map(|&((a, b), c)| (c / nf) * ((c * nf) / (rows[a] * cols[b])).ln())
        .sum::<f64>()
        .max(0.0);

    let homogeneity = if hg == 0.0 { 1.0 } else { mi / hg };
    let completeness = if hp == 0.0 { 1.0 } else { mi / hp };
    let v_measure = if homogeneity + completeness == 0.0 {
        0.0
    } else {
        2.0 * homogeneity * completeness / (homogeneity + completeness)
    };
    // One class and one cluster (or nothing at all) agree perfectly, as in scikit-learn.
    let nmi = if (ng == 1 && np == 1) || n == 0 || hg + hp == 0.0 {
        1.0
    } else {
        mi / ((hg + hp) / 2.0)
    };

    let comb2 = |x: f64| x * (x - 1.0) / 2.0;
    let sum_cells: f64 = table.iter().map(|&(_, c)| comb2(c)).sum();
    let sum_rows: f64 = rows.iter().map(|&c| comb2(c)).sum();
    let sum_cols: f64 = cols.iter().map(|&c| comb2(c)).sum();
    let expected = sum_rows * sum_cols / comb2(nf).max(f64::MIN_POSITIVE);
    let max_index = (sum_rows + sum_cols) / 2.0;
    let ari = if (max_index - expected).abs() < 1e-12 {
        1.0
    } else {
        (sum_cells - expected) / (max_index - expected)
    };
    Scores {
        n,
        nmi,
        ari,
        homogeneity,
        completeness,
        v_measure,
    }
}

/// Scores of a documents file: with unassigned documents as one extra group, and without them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub documents: usize,
    pub unassigned: usize,
    pub missing_gold: usize,
    /// Unassigned documents counted as their own group.
    pub all: Scores,
    /// Unassigned documents left out.
    pub assigned_only: Scores,
}

impl Report {
    pub fn table(&self) -> String {
        let mut out = format!(
            "documents {} (unassigned {}, without gold label {})\n{:<14}{:>14}{:>16}\n",
            self.documents, self.unassigned, self.missing_gold, "", "all", "assigned only"
        );
        for (name, a, b) in [
            ("NMI", self.all.nmi, self.assigned_only.nmi),
            ("ARI", self.all.ari, self.assigned_only.ari),
            (
                "V-measure",
                self.all.v_measure,
                self.assigned_only.v_measure,
            ),
            (
                "homogeneity",
                self.all.homogeneity,
                self.assigned_only.homogeneity,
            ),
            (
                "completeness",
                self.all.completeness,
                self.assigned_only.completeness,
            ),
        ] {
            out.push_str(&format!("{name:<14}{a:>14.4}{b:>16.4}\n"));
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct EvalError {
    pub path: std::path::PathBuf,
    pub problem: EvalProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalProblem {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[source] parquet::errors::ParquetError),
    #[error("{0}")]
    Read(#[source] arrow_schema::ArrowError),
    /// `gold`: the missing column is the gold one.
    #[error("no column '{name}' (columns: {}){}", columns.join(", "), if *gold { format!("; eval compares topics with gold labels: cluster an input that has a label column, or name the gold column with {}", crate::setting::Setting::GoldColumn) } else { String::new() })]
    NoColumn {
        name: String,
        columns: Vec<String>,
        gold: bool,
    },
    #[error("no row has a value in '{0}'")]
    NoGold(String),
}

/// Reads `gold` and `pred` columns of a Parquet file (any types; compared as text) and scores them.
/// Rows without a gold label are left out; a null prediction is "unassigned".
pub fn evaluate_file(path: &std::path::Path, gold: &str, pred: &str) -> Result<Report, EvalError> {
    use arrow_array::{Array, StringArray};
    let err = |problem| EvalError {
        path: path.to_path_buf(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(|e| err(EvalProblem::Open(e)))?;
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(EvalProblem::Parquet(e)))?;
    for c in [gold, pred] {
        if builder.schema().field_with_name(c).is_err() {
            let names: Vec<String> = builder
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            return Err(err(EvalProblem::NoColumn {
                name: c.to_string(),
                columns: names,
                gold: c == gold,
            }));
        }
    }
    let mut g: Vec<Option<String>> = Vec::new();
    let mut p: Vec<Option<String>> = Vec::new();
    for batch in builder.build().map_err(|e| err(EvalProblem::Parquet(e)))? {
        let batch = batch.map_err(|e| err(EvalProblem::Read(e)))?;
        for (name, out) in [(gold, &mut g), (pred, &mut p)] {
            let col = arrow_cast::cast(
                batch.column_by_name(name).expect("checked"),
                &arrow_schema::DataType::Utf8,
            )
            .map_err(|e| err(EvalProblem::Read(e)))?;
            let col = col
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            out.extend((0..col.len()).map(|i| (!col.is_null(i)).then(|| col.value(i).to_string())));
        }
    }
    let documents = g.len();
    let missing_gold = g.iter().filter(|x| x.is_none()).count();
    let rows: Vec<(String, Option<String>)> = g
        .into_iter()
        .zip(p)
        .filter_map(|(g, p)| g.map(|g| (g, p)))
        .collect();
    if rows.is_empty() {
        return Err(err(EvalProblem::NoGold(gold.to_string())));
    }
    let unassigned = rows.iter().filter(|(_, p)| p.is_none()).count();
    let golds: Vec<&str> = rows.iter().map(|(g, _)| g.as_str()).collect();
    let preds: Vec<Option<&str>> = rows.iter().map(|(_, p)| p.as_deref()).collect();
    let all = score(&golds, &preds);
    let kept: Vec<(&str, &str)> = rows
        .iter()
        .filter_map(|(g, p)| p.as_deref().map(|p| (g.as_str(), p)))
        .collect();
    let assigned_only = score(
        &kept.iter().map(|k| k.0).collect::<Vec<_>>(),
        &kept.iter().map(|k| k.1).collect::<Vec<_>>(),
    );
    Ok(Report {
        documents,
        unassigned,
        missing_gold,
        all,
        assigned_only,
    })
}

fn dense<T: std::hash::Hash + Eq>(labels: &[T]) -> Vec<usize> {
    let mut ids: HashMap<&T, usize> = HashMap::new();
    labels
        .iter()
        .map(|l| {
            let next = ids.len();
            *ids.entry(l).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_labels_score_the_same_to_the_last_bit() {
        // Many cells: each HashMap has its own seed, so an order of the cells taken from one
        // would move the sums' last digits from call to call.
        let gold: Vec<usize> = (0..5_000).map(|i| (i * 7919) % 23).collect();
        let pred: Vec<usize> = (0..5_000).map(|i| (i * 104_729 / 13) % 31).collect();
        let first = score(&gold, &pred);
        for _ in 0..20 {
            let again = score(&gold, &pred);
            assert_eq!(again.nmi.to_bits(), first.nmi.to_bits());
            assert_eq!(again.ari.to_bits(), first.ari.to_bits());
            assert_eq!(again.v_measure.to_bits(), first.v_measure.to_bits());
        }
    }

    #[derive(serde::Deserialize)]
    struct Case {
        gold: Vec<i64>,
        pred: Vec<i64>,
        nmi: f64,
        ari: f64,
        homogeneity: f64,
        completeness: f64,
        v_measure: f64,
    }

    /// Values computed by scikit-learn (tests/reference/make_metrics_reference.py).
    #[test]
    fn matches_scikit_learn() {
        let text = include_str!("../tests/reference/metrics_reference.json");
        let cases: Vec<Case> = serde_json::from_str::<serde_json::Value>(text)
            .map(|v| serde_json::from_value(v["cases"].clone()).unwrap())
            .unwrap();
        assert!(cases.len() >= 5);
        for (i, c) in cases.iter().enumerate() {
            let s = score(&c.gold, &c.pred);
            for (name, ours, theirs) in [
                ("nmi", s.nmi, c.nmi),
                ("ari", s.ari, c.ari),
                ("homogeneity", s.homogeneity, c.homogeneity),
                ("completeness", s.completeness, c.completeness),
                ("v_measure", s.v_measure, c.v_measure),
            ] {
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "case {i} {name}: ours {ours}, scikit-learn {theirs}"
                );
            }
        }
    }
}
