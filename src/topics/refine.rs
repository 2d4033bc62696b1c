//! Labels checked against the documents they name: each topic's label is re-chosen among its
//! options so that as many documents as possible are nearer their own topic's label than any
//! other's (with the embeddings that clustered them), one topic at a time, until no change helps.
//! A sample of each topic's documents stands for it, so the cost stays bounded. Options whose
//! counts differ by less than the sample can tell apart (one standard error of the topic's
//! share) are ties; of those, the one whose documents are nearest to it, by more than the
//! nearest other topic's documents are, wins: the name that fits the whole topic, not the one
//! that happens to catch a few more documents of it.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::matrix::{dots, Matrix};

/// Documents sampled at most, over all topics (fewer per topic when there are many topics).
const SAMPLE: usize = 8_000;
/// Documents sampled per topic at most.
const PER_TOPIC: usize = 200;
/// Rounds over all topics at most.
const ROUNDS: usize = 4;
/// Options this many standard errors of a topic's sampled share apart are ties.
const TIE_ERRORS: f32 = 1.0;

/// Each topic's options as rows of `vectors` (unit length) with their texts and bonuses, and
/// the option each topic starts from (None: the topic has no options).
pub struct Options<'a> {
    pub texts: &'a [Vec<String>],
    pub rows: &'a [Vec<usize>],
    pub bonus: &'a [Vec<f32>],
    pub vectors: &'a Matrix,
}

/// Re-chooses each topic's option to maximise the documents nearest their own label (sampled,
/// weighted back to topic sizes) plus each option's bonus times its topic's share.
pub fn refine(
    options: &Options<'_>,
    data: &Matrix,
    members: &[Vec<usize>],
    mut current: Vec<Option<usize>>,
) -> Vec<Option<usize>> {
    let k = members.len();
    let total: usize = members.iter().map(Vec::len).sum::<usize>().max(1);
    let per_topic = (SAMPLE / k.max(1)).clamp(1, PER_TOPIC);
    // Sampled documents: (row, topic, weight), evenly strided through each topic.
    let mut docs: Vec<(usize, usize, f32)> = Vec::new();
    for (t, rows) in members.iter().enumerate() {
        let take = rows.len().min(per_topic);
        for i in 0..take {
            let r = rows[i * rows.len() / take];
            docs.push((r, t, rows.len() as f32 / take as f32));
        }
    }
    let sims = similarities(options, data, &docs);
    let fit = fits(&sims, &docs, k);
    let label_sim = |current: &[Option<usize>], s: usize, d: usize| -> f32 {
        current[s].map_or(f32::NEG_INFINITY, |j| sims[s][j][d])
    };
    for _ in 0..ROUNDS {
        let mut changed = false;
        for t in 0..k {
            if current[t].is_none() {
                continue;
            }
            // Per document, the three best labels other than nothing: enough to know the best
            // label outside any two topics.
            let top3: Vec<[(f32, usize); 3]> = (0..docs.len())
                .map(|d| {
                    let mut best = [(f32::NEG_INFINITY, usize::MAX); 3];
                    for s in 0..k {
                        let v = label_sim(&current, s, d);
                        if v > best[2].0 {
                            best[2] = (v, s);
                            best.sort_by(|a, b| b.0.total_cmp(&a.0));
                        }
                    }
                    best
                })
                .collect();
            let outside = |d: usize, a: usize, b: usize| {
                top3[d]
                    .iter()
                    .find(|(_, s)| *s != a && *s != b)
                    .map_or(f32::NEG_INFINITY, |x| x.0)
            };
            let taken: HashSet<String> = (0..k)
                .filter(|&s| s != t)
                .filter_map(|s| current[s].map(|j| options.texts[s][j].to_lowercase()))
                .collect();
            let share = members[t].len() as f32 / total as f32;
            let sampled = members[t].len().min(per_topic).max(1);
            // The standard error of a share is at most 0.5 / sqrt(n).
            let tie = share * TIE_ERRORS * 0.5 / (sampled as f32).sqrt();
            let mut scored: Vec<(f32, usize)> = Vec::new();
            for (j, text) in options.texts[t].iter().enumerate() {
                if taken.contains(&text.to_lowercase()) {
                    continue;
                }
                let mut right = 0f32;
                for (d, &(_, u, w)) in docs.iter().enumerate() {
                    let o = sims[t][j][d];
                    let ok = if u == t {
                        o > outside(d, t, t)
                    } else {
                        let own = label_sim(&current, u, d);
                        own > outside(d, u, t).max(o)
                    };
                    if ok {
                        right += w;
                    }
                }
                scored.push((right / total as f32 + options.bonus[t][j] * share, j));
            }
            let top = scored.iter().map(|x| x.0).fold(f32::NEG_INFINITY, f32::max);
            let best = scored
                .iter()
                .filter(|x| x.0 >= top - tie)
                .max_by(|a, b| fit[t][a.1].total_cmp(&fit[t][b.1]).then(b.1.cmp(&a.1)));
            if let Some(&(_, j)) = best {
                if current[t] != Some(j) {
                    current[t] = Some(j);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    current
}

/// Similarity of every option (`sims[t][j]`: topic t's option j) to every sampled document, by
/// matrix products over blocks of options, side by side.
fn similarities(
    options: &Options<'_>,
    data: &Matrix,
    docs: &[(usize, usize, f32)],
) -> Vec<Vec<Vec<f32>>> {
    let dim = data.dim();
    let n = docs.len();
    let doc_rows: Vec<usize> = docs.iter().map(|&(r, _, _)| r).collect();
    let doc_values = data.select(&doc_rows);
    let rows: Vec<usize> = options.rows.iter().flatten().copied().collect();
    let products: Vec<Vec<f32>> = rows
        .par_chunks(BLOCK)
        .map(|block| {
            let values = options.vectors.select(block);
            dots(values.as_slice(), doc_values.as_slice(), dim)
        })
        .collect();
    let mut all = products.iter().flat_map(|p| p.chunks(n.max(1)));
    options
        .rows
        .iter()
        .map(|topic| {
            topic
                .iter()
                .map(|_| all.next().map(<[f32]>::to_vec).unwrap_or_default())
                .collect()
        })
        .collect()
}

/// Options per block of [`similarities`]' products.
const BLOCK: usize = 32;

/// Per topic and option: the option's mean similarity to the topic's sampled documents, less
/// its highest mean similarity to another topic's.
fn fits(sims: &[Vec<Vec<f32>>], docs: &[(usize, usize, f32)], k: usize) -> Vec<Vec<f32>> {
    sims.iter()
        .enumerate()
        .map(|(t, options)| {
            options
                .iter()
                .map(|row| {
                    let mut sums = vec![(0f32, 0u32); k];
                    for (&v, &(_, u, _)) in row.iter().zip(docs) {
                        sums[u].0 += v;
                        sums[u].1 += 1;
                    }
                    let mean = |u: usize| sums[u].0 / sums[u].1.max(1) as f32;
                    let other = (0..k)
                        .filter(|&u| u != t && sums[u].1 > 0)
                        .map(mean)
                        .fold(f32::NEG_INFINITY, f32::max);
                    mean(t) - if other.is_finite() { other } else { 0.0 }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_option_its_documents_are_nearest() {
        // Two topics on the unit circle: topic 0 near (1, 0), topic 1 near (0, 1).
        let mut data = Matrix::new(vec![1.0, 0.1, 0.9, 0.2, 0.1, 1.0, 0.2, 0.9], 2).unwrap();
        data.normalize_rows();
        let members = vec![vec![0, 1], vec![2, 3]];
        // Topic 0's options: one pointing at topic 1's documents, one at its own.
        let mut vectors = Matrix::new(vec![0.2, 1.0, 1.0, 0.0, 0.0, 1.0], 2).unwrap();
        vectors.normalize_rows();
        let texts = vec![
            vec!["wrong".to_string(), "right".to_string()],
            vec!["other".to_string()],
        ];
        let options = Options {
            texts: &texts,
            rows: &[vec![0, 1], vec![2]],
            bonus: &[vec![0.0, 0.0], vec![0.0]],
            vectors: &vectors,
        };
        let picked = refine(&options, &data, &members, vec![Some(0), Some(0)]);
        assert_eq!(picked, vec![Some(1), Some(0)]);
        // A bonus larger than what the documents say wins.
        let options = Options {
            bonus: &[vec![3.0, 0.0], vec![0.0]],
            ..options
        };
        assert_eq!(
            refine(&options, &data, &members, vec![Some(1), Some(0)]),
            vec![Some(0), Some(0)]
        );
    }

    #[test]
    fn of_options_the_documents_cannot_tell_apart_the_one_fitting_the_topic_wins() {
        // Two topics on the unit circle: topic 0 near (1, 0), topic 1 near (0, 1).
        let mut data = Matrix::new(vec![1.0, 0.1, 1.0, -0.1, 0.1, 1.0, -0.1, 1.0], 2).unwrap();
        data.normalize_rows();
        let members = vec![vec![0, 1], vec![2, 3]];
        // Both of topic 0's options are nearest to both its documents; the second leans
        // towards topic 1.
        let mut vectors = Matrix::new(vec![1.0, 0.0, 1.0, 0.5, 0.0, 1.0], 2).unwrap();
        vectors.normalize_rows();
        for texts in [["centre", "leaning"], ["leaning", "centre"]] {
            let (centre, leaning) = if texts[0] == "centre" { (0, 1) } else { (1, 0) };
            let texts = vec![texts.map(String::from).to_vec(), vec!["other".to_string()]];
            let mut rows = vec![0, 1];
            if centre == 1 {
                rows.reverse();
            }
            let options = Options {
                texts: &texts,
                rows: &[rows, vec![2]],
                bonus: &[vec![0.0, 0.0], vec![0.0]],
                vectors: &vectors,
            };
            let picked = refine(&options, &data, &members, vec![Some(leaning), Some(0)]);
            assert_eq!(picked, vec![Some(centre), Some(0)], "{texts:?}");
        }
    }
}
