//! What naming keeps of a corpus streamed past, per topic, in bounded memory: an even sample of
//! its documents ([`Samples`], reservoir sampling: Vitter 1985, "Algorithm R") for phrases and
//! themes, and its documents nearest the centroid ([`Nearest`]) as representatives.

use crate::cluster::rng::Rng;

/// One sampled document.
#[derive(Clone, Debug)]
pub struct Sampled {
    pub row: usize,
    pub title: String,
    pub text: String,
    pub vector: Vec<f32>,
}

/// A uniform sample of at most `cap` documents per topic, the same for a seed and an order of
/// rows.
pub struct Samples {
    cap: usize,
    seen: Vec<u64>,
    kept: Vec<Vec<Sampled>>,
    rng: Rng,
}

/// Characters of a sampled text kept (phrases read its first 256 words).
const TEXT_CHARS: usize = 4096;

impl Samples {
    pub fn new(topics: usize, cap: usize, seed: u64) -> Self {
        Self {
            cap: cap.max(1),
            seen: vec![0; topics],
            kept: vec![Vec::new(); topics],
            rng: Rng::new(seed ^ 0x5a5a_5a5a),
        }
    }

    /// Offers one document of `topic`; `make` builds it only when it is kept.
    pub fn offer(&mut self, topic: usize, make: impl FnOnce() -> Sampled) {
        let seen = self.seen[topic];
        self.seen[topic] += 1;
        let kept = &mut self.kept[topic];
        if kept.len() < self.cap {
            kept.push(cut(make()));
        } else {
            let j = self.rng.below(seen as usize + 1);
            if j < self.cap {
                kept[j] = cut(make());
            }
        }
    }

    /// Each topic's sample, by row.
    pub fn into_topics(self) -> Vec<Vec<Sampled>> {
        self.kept
            .into_iter()
            .map(|mut s| {
                s.sort_by_key(|d| d.row);
                s
            })
            .collect()
    }
}

fn cut(mut d: Sampled) -> Sampled {
    if d.text.len() > TEXT_CHARS {
        let mut end = TEXT_CHARS;
        while !d.text.is_char_boundary(end) {
            end -= 1;
        }
        d.text.truncate(end);
    }
    d
}

/// One of a topic's nearest documents: similarity, row, id, title.
pub type Near = (f32, usize, String, String);

/// Each topic's `top` documents most similar to its centroid, most similar first (ties: the
/// earlier row).
pub struct Nearest {
    top: usize,
    best: Vec<Vec<Near>>,
}

impl Nearest {
    pub fn new(topics: usize, top: usize) -> Self {
        Self {
            top,
            best: vec![Vec::new(); topics],
        }
    }

    pub fn offer(&mut self, topic: usize, similarity: f32, row: usize, id: &str, title: &str) {
        let best = &mut self.best[topic];
        let before = |e: &Near| e.0 > similarity || (e.0 == similarity && e.1 < row);
        let at = best.partition_point(before);
        if at < self.top {
            best.insert(at, (similarity, row, id.to_string(), title.to_string()));
            best.truncate(self.top);
        }
    }

    pub fn into_topics(self) -> Vec<Vec<Near>> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(row: usize) -> Sampled {
        Sampled {
            row,
            title: format!("t{row}"),
            text: "x".repeat(5000),
            vector: vec![row as f32],
        }
    }

    #[test]
    fn samples_are_even_bounded_and_reproducible() {
        let run = || {
            let mut s = Samples::new(2, 50, 7);
            for row in 0..10_000 {
                s.offer(row % 2, || doc(row));
            }
            s.into_topics()
        };
        let a = run();
        assert_eq!(a[0].len(), 50);
        assert!(a[0]
            .iter()
            .all(|d| d.row % 2 == 0 && d.text.len() == TEXT_CHARS));
        // Uniform over the rows: about half the sample from each half of the input.
        let early = a[1].iter().filter(|d| d.row < 5000).count();
        assert!((13..=37).contains(&early), "{early}");
        assert!(a[1].windows(2).all(|w| w[0].row < w[1].row));
        let b = run();
        let rows = |s: &Vec<Vec<Sampled>>| s[1].iter().map(|d| d.row).collect::<Vec<_>>();
        assert_eq!(rows(&a), rows(&b));
    }

    #[test]
    fn nearest_keeps_the_most_similar_in_order() {
        let mut n = Nearest::new(1, 3);
        for (row, sim) in [0.5f32, 0.9, 0.1, 0.9, 0.7].into_iter().enumerate() {
            n.offer(0, sim, row, &format!("d{row}"), "");
        }
        let got: Vec<usize> = n.into_topics()[0].iter().map(|e| e.1).collect();
        assert_eq!(got, [1, 3, 4]);
    }
}
