//! Readable topic labels: a short phrase from the top keywords (a strong bigram when there is
//! one), made unique across topics; and guided labels picked from user candidates by embedding
//! similarity to the topic centroid.

use std::collections::HashSet;

use super::ctfidf::Keywords;
use crate::matrix::{dot, Matrix};

/// A bigram among the two best keywords wins the label when its score is at least this share of
/// the best keyword's score.
const STRONG_BIGRAM: f32 = 0.5;

/// One phrase per topic, unique across topics.
pub fn keyword_labels(keywords: &[Keywords]) -> Vec<String> {
    let mut used = HashSet::new();
    keywords
        .iter()
        .enumerate()
        .map(|(topic, k)| {
            let base = phrase(k);
            let mut label = base.clone();
            // Make it unique: add the next keyword not in it yet, then fall back to the topic number.
            let mut extra = k
                .terms
                .iter()
                .filter(|t| !base.split(' ').any(|w| t.split(' ').any(|x| x == w)));
            while used.contains(&label) {
                match extra.next() {
                    Some(t) => label = format!("{label} {t}"),
                    None => label = format!("{label} (topic {topic})"),
                }
            }
            used.insert(label.clone());
            label
        })
        .collect()
}

fn phrase(k: &Keywords) -> String {
    if k.terms.is_empty() {
        return "misc".to_string();
    }
    // A strong bigram is one of the two best keywords and scores close to the best.
    let top = k.scores[0];
    let bigram = k
        .terms
        .iter()
        .zip(&k.scores)
        .take(2)
        .find(|(t, &s)| t.contains(' ') && s >= STRONG_BIGRAM * top);
    if let Some((b, _)) = bigram {
        return b.clone();
    }
    let unigrams: Vec<&str> = k
        .terms
        .iter()
        .filter(|t| !t.contains(' '))
        .take(2)
        .map(String::as_str)
        .collect();
    if unigrams.is_empty() {
        k.terms[0].clone()
    } else {
        unigrams.join(" ")
    }
}

/// For each topic, the candidate whose embedding is most similar to the topic centroid, when the
/// cosine similarity reaches `threshold` (rows of both matrices are unit length).
pub fn guided_labels(
    centroids: &Matrix,
    candidates: &[String],
    candidate_vectors: &Matrix,
    threshold: f32,
) -> Vec<Option<(String, f32)>> {
    (0..centroids.rows())
        .map(|t| {
            (0..candidate_vectors.rows())
                .map(|c| (c, dot(centroids.row(t), candidate_vectors.row(c))))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                .filter(|(_, sim)| *sim >= threshold)
                .map(|(c, sim)| (candidates[c].clone(), sim))
        })
        .collect()
}

/// The label shown for each topic: the guided one when there is one, else the keyword label;
/// a guided label given to several topics is told apart by the keyword label in brackets.
pub fn final_labels(keyword: &[String], guided: &[Option<String>]) -> Vec<String> {
    let mut counts = std::collections::HashMap::new();
    for g in guided.iter().flatten() {
        *counts.entry(g.as_str()).or_insert(0) += 1;
    }
    keyword
        .iter()
        .zip(guided)
        .map(|(k, g)| match g {
            Some(g) if counts[g.as_str()] > 1 => format!("{g} ({k})"),
            Some(g) => g.clone(),
            None => k.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(terms: &[(&str, f32)]) -> Keywords {
        Keywords {
            terms: terms.iter().map(|t| t.0.to_string()).collect(),
            scores: terms.iter().map(|t| t.1).collect(),
        }
    }

    #[test]
    fn prefers_a_strong_bigram_and_keeps_labels_unique() {
        let ks = vec![
            kw(&[("chip", 1.0), ("chip supply", 0.8), ("memory", 0.5)]),
            kw(&[("cloud", 1.0), ("deal", 0.9), ("cloud deal", 0.2)]),
            kw(&[("cloud", 1.0), ("deal", 0.9), ("partner", 0.5)]),
            kw(&[("export", 1.0), ("rules", 0.9), ("chip supply", 0.7)]),
        ];
        let labels = keyword_labels(&ks);
        assert_eq!(labels[0], "chip supply", "a strong bigram on the core word");
        assert_eq!(
            labels[1], "cloud deal",
            "a weak bigram loses to the two best words"
        );
        assert_eq!(
            labels[2], "cloud deal partner",
            "made unique with the next keyword"
        );
        assert_eq!(
            labels[3], "export rules",
            "a bigram below the two best keywords is not used"
        );
        assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len());
    }

    #[test]
    fn guided_labels_need_the_threshold() {
        let centroids = Matrix::new(vec![1., 0., 0., 1.], 2).unwrap();
        let cands = vec!["alliance changes".to_string(), "chip supply".to_string()];
        let vecs = Matrix::new(vec![0.8, 0.6, 0.6, -0.8], 2).unwrap();
        let g = guided_labels(&centroids, &cands, &vecs, 0.7);
        assert_eq!(g[0], Some(("alliance changes".to_string(), 0.8)));
        assert_eq!(g[1], None, "best is 0.6 < 0.7");
        let f = final_labels(
            &["a".into(), "b".into(), "c".into()],
            &[Some("x".into()), Some("x".into()), None],
        );
        assert_eq!(f, ["x (a)", "x (b)", "c"]);
    }
}
