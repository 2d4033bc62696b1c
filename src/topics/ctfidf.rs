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

/// Per-class term counts and document frequencies: everything c-TF-IDF needs, added a document
/// at a time, so that a corpus streamed in batches is scored as one held in memory.
#[derive(Clone, Debug, Default)]
pub struct TermCounts {
    /// `tf[c][term]`: occurrences of the term in class c.
    tf: Vec<HashMap<String, u64>>,
    /// Documents containing the term, over all classes.
    df: HashMap<String, u64>,
}

impl TermCounts {
    /// Counts for `classes` classes, none seen yet.
    pub fn new(classes: usize) -> Self {
        Self {
            tf: vec![HashMap::new(); classes],
            df: HashMap::new(),
        }
    }

    pub fn classes(&self) -> usize {
        self.tf.len()
    }

    /// Adds one document of class `class` (a class past the last one adds classes).
    pub fn add(&mut self, class: usize, terms: &[String]) {
        if class >= self.tf.len() {
            self.tf.resize_with(class + 1, HashMap::new);
        }
        let tf = &mut self.tf[class];
        let mut seen: Vec<&str> = Vec::with_capacity(terms.len());
        for t in terms {
            match tf.get_mut(t.as_str()) {
                Some(n) => *n += 1,
                None => {
                    tf.insert(t.clone(), 1);
                }
            }
            seen.push(t);
        }
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            match self.df.get_mut(t) {
                Some(n) => *n += 1,
                None => {
                    self.df.insert(t.to_string(), 1);
                }
            }
        }
    }

    /// The classes in the order `order` gives (`order[i]`: the class that becomes class i);
    /// classes not named are dropped (their documents stay in the document frequencies).
    pub fn select(mut self, order: &[usize]) -> Self {
        let tf = order
            .iter()
            .map(|&c| self.tf.get_mut(c).map(std::mem::take).unwrap_or_default())
            .collect();
        Self { tf, df: self.df }
    }

    /// Distinct terms counted.
    pub fn terms(&self) -> usize {
        self.df.len()
    }

    /// The `top` best terms of each class; terms found in fewer than `min_df` documents overall
    /// are left out.
    pub fn keywords(&self, min_df: usize, top: usize) -> Vec<Keywords> {
        let each: Vec<Vec<usize>> = (0..self.tf.len()).map(|c| vec![c]).collect();
        self.keywords_of(&each, min_df, top)
    }

    /// The `top` best terms of each group of classes (a node of the topic tree: the classes it
    /// covers), its term frequencies summed and scored with the classes' own `log(1 + A / f(x))`,
    /// as BERTopic's `hierarchical_topics` scores a merged topic with the fitted c-TF-IDF model.
    pub fn keywords_of(&self, groups: &[Vec<usize>], min_df: usize, top: usize) -> Vec<Keywords> {
        let mut vocab: Vec<&str> = self
            .df
            .iter()
            .filter(|(_, &n)| n >= min_df as u64)
            .map(|(t, _)| t.as_str())
            .collect();
        vocab.sort_unstable();
        let index: HashMap<&str, usize> = vocab.iter().enumerate().map(|(i, t)| (*t, i)).collect();
        // Term frequency per class, over the kept terms: (term index, count), by index.
        let tf: Vec<Vec<(usize, f64)>> = self
            .tf
            .iter()
            .map(|class| {
                let mut row: Vec<(usize, f64)> = class
                    .iter()
                    .filter_map(|(t, &n)| index.get(t.as_str()).map(|&i| (i, n as f64)))
                    .collect();
                row.sort_unstable_by_key(|e| e.0);
                row
            })
            .collect();
        // Whole numbers below 2^53: every sum is exact, in any order.
        let words_per_class: Vec<f64> =
            tf.iter().map(|row| row.iter().map(|e| e.1).sum()).collect();
        let a = words_per_class.iter().sum::<f64>() / self.tf.len().max(1) as f64;
        let mut f = vec![0f64; vocab.len()];
        for row in &tf {
            for &(i, v) in row {
                f[i] += v;
            }
        }
        let idf: Vec<f64> = f.iter().map(|&fx| (1.0 + a / fx).ln()).collect();
        groups
            .iter()
            .map(|group| {
                let row = summed(group.iter().filter_map(|&c| tf.get(c)));
                let total: f64 = row.iter().map(|e| e.1).sum();
                let mut scored: Vec<(usize, f64)> =
                    row.iter().map(|&(i, v)| (i, v / total * idf[i])).collect();
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
}

/// Rows of (term index, count) added up, by index.
fn summed<'a>(rows: impl Iterator<Item = &'a Vec<(usize, f64)>>) -> Vec<(usize, f64)> {
    let mut all: Vec<(usize, f64)> = rows.flatten().copied().collect();
    all.sort_unstable_by_key(|e| e.0);
    let mut out: Vec<(usize, f64)> = Vec::with_capacity(all.len());
    for (i, v) in all {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += v,
            _ => out.push((i, v)),
        }
    }
    out
}

/// `classes[c]` holds the term lists of the documents in class c. Terms found in fewer than
/// `min_df` documents overall are left out. Returns the `top` best terms of each class.
pub fn keywords(classes: &[Vec<Vec<String>>], min_df: usize, top: usize) -> Vec<Keywords> {
    let mut counts = TermCounts::new(classes.len());
    for (c, docs) in classes.iter().enumerate() {
        for doc in docs {
            counts.add(c, doc);
        }
    }
    counts.keywords(min_df, top)
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
    fn counts_added_in_any_order_score_as_one() {
        let classes = vec![
            docs(&["chip chip cloud", "chip supply"]),
            docs(&["cloud deal", "cloud deal signed"]),
        ];
        let whole = keywords(&classes, 1, 10);
        // Documents added as a stream brings them (interleaved, another order, classes
        // appearing as they come) score as the classes held whole.
        let mut a = TermCounts::new(0);
        a.add(1, &classes[1][1]);
        a.add(0, &classes[0][1]);
        a.add(1, &classes[1][0]);
        a.add(0, &classes[0][0]);
        assert_eq!(a.classes(), 2);
        assert_eq!(a.keywords(1, 10), whole);
        assert_eq!(a.terms(), 5);
    }

    #[test]
    fn a_group_sums_its_classes_and_keeps_their_idf() {
        // The hand example's classes: chip 2, cloud 1 | cloud 1, deal 1. Together: chip 2,
        // cloud 2, deal 1 of 5 words, scored with the classes' idf (A = 2.5): chip and cloud
        // 2/5 · ln 2.25, deal 1/5 · ln 3.5.
        let classes = [docs(&["chip chip", "cloud"]), docs(&["cloud deal"])];
        let mut counts = TermCounts::new(2);
        for (c, d) in classes.iter().enumerate() {
            for doc in d {
                counts.add(c, doc);
            }
        }
        let k = counts.keywords_of(&[vec![0, 1], vec![1]], 1, 10);
        assert_eq!(k[0].terms, ["chip", "cloud", "deal"]);
        assert!((k[0].scores[0] as f64 - 0.4 * 2.25f64.ln()).abs() < 1e-6);
        assert!((k[0].scores[2] as f64 - 0.2 * 3.5f64.ln()).abs() < 1e-6);
        assert_eq!(k[1], counts.keywords(1, 10)[1]);
    }

    #[test]
    fn min_df_drops_rare_terms() {
        let classes = vec![docs(&["chip rare", "chip"]), docs(&["cloud", "cloud"])];
        let k = keywords(&classes, 2, 10);
        assert_eq!(k[0].terms, ["chip"]);
        assert_eq!(k[1].terms, ["cloud"]);
    }
}
