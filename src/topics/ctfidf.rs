//! Class-based TF-IDF, as defined by BERTopic (`bertopic/vectorizers/_ctfidf.py`, Grootendorst 2022):
//! for term x in class c, `tf(x, c) / Σ_x' tf(x', c) · log(1 + A / f(x))`, where A is the average
//! number of words per class and f(x) the frequency of x across all classes.

use std::collections::HashMap;

/// The top terms of one class, best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Keywords {
    pub terms: Vec<String>,
    pub scores: Vec<f32>,
}

/// `classes[c]` holds the term lists of the documents in class c. Terms found in fewer than
/// `min_df` documents overall are left out. Returns the `top` best terms of each class.
pub fn keywords(classes: &[Vec<Vec<String>>], min_df: usize, top: usize) -> Vec<Keywords> {
    // Document frequency, to drop rare terms.
    let mut df: HashMap<&str, usize> = HashMap::new();
    for docs in classes {
        for doc in docs {
            let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_default() += 1;
            }
        }
    }
    let mut vocab: Vec<&str> = df
        .iter()
        .filter(|(_, &n)| n >= min_df)
        .map(|(t, _)| *t)
        .collect();
    vocab.sort_unstable();
    let index: HashMap<&str, usize> = vocab.iter().enumerate().map(|(i, t)| (*t, i)).collect();

    // Term frequency per class.
    let mut tf = vec![vec![0f64; vocab.len()]; classes.len()];
    for (c, docs) in classes.iter().enumerate() {
        for t in docs.iter().flatten() {
            if let Some(&i) = index.get(t.as_str()) {
                tf[c][i] += 1.0;
            }
        }
    }
    let words_per_class: Vec<f64> = tf.iter().map(|row| row.iter().sum()).collect();
    let a = words_per_class.iter().sum::<f64>() / classes.len().max(1) as f64;
    let f: Vec<f64> = (0..vocab.len())
        .map(|i| tf.iter().map(|row| row[i]).sum())
        .collect();
    let idf: Vec<f64> = f.iter().map(|&fx| (1.0 + a / fx).ln()).collect();

    tf.iter()
        .zip(&words_per_class)
        .map(|(row, &total)| {
            let mut scored: Vec<(usize, f64)> = row
                .iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(|(i, &v)| (i, v / total * idf[i]))
                .collect();
            // Highest score first; ties by term, so the order is reproducible.
            scored.sort_by(|x, y| y.1.total_cmp(&x.1).then(vocab[x.0].cmp(vocab[y.0])));
            scored.truncate(top);
            Keywords {
                terms: scored.iter().map(|(i, _)| vocab[*i].to_string()).collect(),
                scores: scored.iter().map(|(_, s)| *s as f32).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts
            .iter()
            .map(|t| t.split(' ').map(String::from).collect())
            .collect()
    }

    #[test]
    fn matches_a_hand_computed_example() {
        // Class 0: "chip chip cloud"; class 1: "cloud deal". A = (3 + 2) / 2 = 2.5.
        // f(chip) = 2, f(cloud) = 2, f(deal) = 1.
        // class 0: chip 2/3 · ln(1 + 2.5/2), cloud 1/3 · ln(1 + 2.5/2)
        // class 1: cloud 1/2 · ln(1 + 2.5/2), deal 1/2 · ln(1 + 2.5/1)
        let classes = vec![docs(&["chip chip", "cloud"]), docs(&["cloud deal"])];
        let k = keywords(&classes, 1, 10);
        let l225 = 2.25f64.ln();
        let l35 = 3.5f64.ln();
        assert_eq!(k[0].terms, ["chip", "cloud"]);
        assert!((k[0].scores[0] as f64 - 2.0 / 3.0 * l225).abs() < 1e-6);
        assert!((k[0].scores[1] as f64 - 1.0 / 3.0 * l225).abs() < 1e-6);
        assert_eq!(k[1].terms, ["deal", "cloud"]);
        assert!((k[1].scores[0] as f64 - 0.5 * l35).abs() < 1e-6);
        assert!((k[1].scores[1] as f64 - 0.5 * l225).abs() < 1e-6);
    }

    #[test]
    fn min_df_drops_rare_terms() {
        let classes = vec![docs(&["chip rare", "chip"]), docs(&["cloud", "cloud"])];
        let k = keywords(&classes, 2, 10);
        assert_eq!(k[0].terms, ["chip"]);
        assert_eq!(k[1].terms, ["cloud"]);
    }
}
