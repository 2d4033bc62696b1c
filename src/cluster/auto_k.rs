//! Choosing k (`--k auto`) from a topic tree: on a sample, [`FITS`] fine k-means fits (many small
//! topics, different seeds) on all of it and [`FITS`] more on subsamples of [`SUBSAMPLE`] of it,
//! each fit's centres merged by Ward's criterion into a tree ([`Tree::ward`]), the tree cut at
//! every count c in the range and each cut refined by Lloyd's iterations started from its merged
//! centres (a subsample's cut then labels every sampled row by its nearest centre). For each c:
//! the stability of the refined cuts — the mean pairwise adjusted Rand index (Hubert & Arabie
//! 1985) between the whole-sample fits times that between the subsample fits, so a partition
//! must come back whatever the seed *and* whatever rows were drawn (Ben-Hur, Elisseeff & Guyon
//! 2002) — and their mean silhouette (Rousseeuw 1987, cosine distance). The count chosen is the
//! separated level whose next finer count loses the most stability: the highest
//! `silhouette(c) × (stability(c) − stability(c+1))` among the counts of at least [`FLOOR`] of
//! the silhouette's scale (the count where the silhouette, averaged over [`SMOOTH`] neighbours
//! each side, is highest): stability alone finds coarse stable levels far below the corpus's
//! grain. The study behind it is `benches/granularity.py` and `benches/auto_k.py`; the README
//! has their tables.

use super::error::ClusterError;
use super::kmeans::{self, KMeansParams};
use super::rng::Rng;
use super::tree::Tree;
use super::Assignments;
use crate::eval;
use crate::matrix::{dots, Matrix};
use crate::setting::Setting;
use rayon::prelude::*;

/// Fine fits whose refined cuts are compared: this many on the whole sample, as many on
/// subsamples.
pub const FITS: usize = 3;
/// Share of the sample each subsample fit sees.
pub const SUBSAMPLE: f64 = 0.9;
/// The lowest count scored: this share of the silhouette's scale ([`scale`]), as a fraction
/// (2/3), rounded up.
const FLOOR: (usize, usize) = (2, 3);
/// Topics of a fine fit: at most this many, and at most one per [`ROWS_PER_FINE`] sampled rows.
pub const FINE_MAX: usize = 150;
pub const ROWS_PER_FINE: usize = 10;
/// Rows whose silhouette is computed (a full distance matrix).
pub const SILHOUETTE_ROWS: usize = 2_000;
/// Lloyd's iterations that refine a cut.
const REFINE_ITER: usize = 30;

/// What `k auto` measured at one count.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KScore {
    pub k: usize,
    /// Mean adjusted Rand index between the whole-sample fits' refined cuts at k times that
    /// between the subsample fits' (1: the same partition every time).
    pub stability: f64,
    /// Mean silhouette of all the refined cuts at k (cosine distance).
    pub silhouette: f64,
    /// The choice's score; none at the top of the range, which has nothing finer to compare, and
    /// below 2/3 of the silhouette's scale (`FLOOR`).
    pub score: Option<f64>,
}

/// Scores every count in `range` on at most `sample` rows of `data` (fine fits with `params`'
/// seed, iterations and tolerance); returns the chosen count and every count's scores.
pub fn choose_k(
    data: &Matrix,
    range: std::ops::RangeInclusive<usize>,
    sample: usize,
    params: &KMeansParams,
) -> Result<(usize, Vec<KScore>), ClusterError> {
    let n = data.rows();
    if n < 3 {
        return Err(ClusterError::TooFewToChoose {
            n,
            min: 3,
            setting: Setting::K,
        });
    }
    let mut rng = Rng::new(params.seed());
    // Random order: the first rows are the silhouette's.
    let s = data.select(&rng.sample(n, sample.min(n)));
    let m = s.rows();
    let lo = (*range.start()).max(2);
    let fine = (m / ROWS_PER_FINE)
        .clamp(lo + 1, FINE_MAX.max(lo + 1))
        .min(m);
    let hi = (*range.end()).min(fine - 1);
    if lo > hi {
        return Err(ClusterError::NoKToTry {
            min: *range.start(),
            max: *range.end(),
            rows: m,
        });
    }
    // The fits side by side: each has its own seed, so the cuts do not depend on the threads.
    let cuts = (0..2 * FITS)
        .into_par_iter()
        .map(|f| refined_cuts(&s, fine, lo..=hi, params, f % FITS, f >= FITS))
        .collect::<Result<Vec<_>, _>>()?;
    let started = std::time::Instant::now();
    let sil_rows = SILHOUETTE_ROWS.min(m);
    let dist = cosine_distances(&s, sil_rows);
    let mut scores: Vec<KScore> = (lo..=hi)
        .map(|k| {
            let at: Vec<&Vec<usize>> = cuts.iter().map(|c| &c[k - lo]).collect();
            let stability = agreement(&at[..FITS]) * agreement(&at[FITS..]);
            let silhouette = at
                .iter()
                .map(|l| silhouette(&dist, &l[..sil_rows], k))
                .sum::<f64>()
                / at.len() as f64;
            KScore {
                k,
                stability,
                silhouette,
                score: None,
            }
        })
        .collect();
    tracing::debug!(
        "k auto: stability and silhouettes {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let best = pick(&mut scores).unwrap_or(lo);
    Ok((best, scores))
}

/// Mean adjusted Rand index over every pair of `cuts` (1 for fewer than two).
fn agreement(cuts: &[&Vec<usize>]) -> f64 {
    let mut pairs = Vec::new();
    for a in 0..cuts.len() {
        for b in a + 1..cuts.len() {
            pairs.push(eval::score(cuts[a], cuts[b]).ari);
        }
    }
    if pairs.is_empty() {
        1.0
    } else {
        pairs.iter().sum::<f64>() / pairs.len() as f64
    }
}

/// Fills in each count's score (counts in increasing order) and returns the best-scored count;
/// none when no count could be scored.
fn pick(scores: &mut [KScore]) -> Option<usize> {
    let stab: Vec<f64> = scores.iter().map(|s| s.stability).collect();
    let floor = (scale(scores) * FLOOR.0).div_ceil(FLOOR.1);
    for (i, s) in scores.iter_mut().enumerate() {
        s.score = stab
            .get(i + 1)
            .filter(|_| s.k >= floor)
            .map(|finer| s.silhouette * (s.stability - finer));
    }
    scores
        .iter()
        .filter_map(|s| s.score.map(|v| (s.k, v)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(k, _)| k)
}

/// Counts either side of c whose silhouettes are averaged to find the scale.
const SMOOTH: usize = 4;

/// The count where the silhouette, averaged over its [`SMOOTH`] neighbours either side (fewer at
/// the ends of the range), is highest (a tie: the smaller count): the scale at which the sample
/// is best separated. The silhouette of many corpora is flat over a wide range and jumps at
/// single counts, so one count's value alone wanders from seed to seed (20 Newsgroups, seed 3:
/// 0.0841 at 10 between 0.0785 and 0.0802, where the broad peak is 0.080 around 24).
fn scale(scores: &[KScore]) -> usize {
    let smoothed = |i: usize| {
        let near = &scores[i.saturating_sub(SMOOTH)..(i + SMOOTH + 1).min(scores.len())];
        near.iter().map(|s| s.silhouette).sum::<f64>() / near.len() as f64
    };
    (0..scores.len())
        .map(|i| (scores[i].k, smoothed(i)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(2, |(k, _)| k)
}

/// Fine fit number `fit`, on all of `all` or (`sub`) on a subsample of [`SUBSAMPLE`] of it drawn
/// by the fit's seed: k-means with `fine` centres, the Ward tree over them, and the labels of
/// every row of `all` under each refined cut in `counts` (in order).
fn refined_cuts(
    all: &Matrix,
    fine: usize,
    counts: std::ops::RangeInclusive<usize>,
    params: &KMeansParams,
    fit: usize,
    sub: bool,
) -> Result<Vec<Vec<usize>>, ClusterError> {
    let seed = params.seed().wrapping_add(0x5851_f42d * (fit as u64 + 1));
    let one = KMeansParams::new(1, params.max_iter(), params.tol(), seed, None)?;
    let drawn;
    let s = if sub {
        let take = (all.rows() as f64 * SUBSAMPLE).round() as usize;
        let mut rows = Rng::new(seed ^ 0x9e37_79b9).sample(all.rows(), take);
        rows.sort_unstable();
        drawn = all.select(&rows);
        &drawn
    } else {
        all
    };
    let fine = fine.min(s.rows());
    let name = if sub { " (subsample)" } else { "" };
    let started = std::time::Instant::now();
    let base = kmeans::fit(s, fine, &one)?;
    tracing::debug!(
        "k auto: fit {fit}{name}: fine k-means {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = std::time::Instant::now();
    let mut sizes = vec![0usize; fine];
    base.labels.iter().for_each(|&l| sizes[l] += 1);
    let tree = Tree::ward(&base.centroids, &sizes);
    let refiner = kmeans::Refiner::new(s, REFINE_ITER, params.tol());
    // A subsample's cuts label every row of `all`: their lengths once for all the cuts.
    let all_norms = sub.then(|| kmeans::row_norms(all));
    counts
        .map(|c| {
            let group = tree.cut(c);
            let groups = Assignments {
                labels: base.labels.iter().map(|&l| Some(group[l])).collect(),
                topics: c,
            };
            let starts = super::means(s, &groups);
            let cut = refiner.refine(starts)?;
            Ok(match &all_norms {
                Some(norms) => kmeans::assign_with(all, norms, &cut.centroids).0,
                None => cut.labels,
            })
        })
        .collect::<Result<Vec<_>, ClusterError>>()
        .inspect(|_| {
            tracing::debug!(
                "k auto: fit {fit}{name}: refined cuts {:.2} s",
                started.elapsed().as_secs_f64()
            )
        })
}

/// Cosine distances between the first `rows` rows of `s` (unit length), `rows` × `rows`, from
/// one matrix product in blocks of rows side by side.
fn cosine_distances(s: &Matrix, rows: usize) -> Vec<f32> {
    let d = s.dim();
    let head = &s.as_slice()[..rows * d];
    head.par_chunks(64 * d)
        .flat_map_iter(|block| dots(block, head, d).into_iter().map(|p| 1.0 - p))
        .collect()
}

/// Mean silhouette over all points from a full distance matrix (rows of `m` values).
pub fn silhouette(dist: &[f32], labels: &[usize], k: usize) -> f64 {
    let m = labels.len();
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    // Each point's term on rayon's threads; summed in point order, so the result does not
    // depend on the number of threads.
    let terms: Vec<f64> = (0..m)
        .into_par_iter()
        .map(|i| {
            let mut sums = vec![0f64; k];
            for (j, &l) in labels.iter().enumerate() {
                sums[l] += dist[i * m + j] as f64;
            }
            let own = labels[i];
            if sizes[own] <= 1 {
                return 0.0; // silhouette of a singleton is 0
            }
            let a = sums[own] / (sizes[own] - 1) as f64;
            let b = (0..k)
                .filter(|&c| c != own && sizes[c] > 0)
                .map(|c| sums[c] / sizes[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if b.is_finite() {
                (b - a) / a.max(b).max(1e-12)
            } else {
                0.0
            }
        })
        .collect();
    terms.iter().sum::<f64>() / m as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silhouette_of_a_clear_split() {
        // Two tight pairs far apart: silhouette close to 1.
        let d = [
            0., 0.1, 5., 5., 0.1, 0., 5., 5., 5., 5., 0., 0.1, 5., 5., 0.1, 0.,
        ];
        let s = silhouette(&d, &[0, 0, 1, 1], 2);
        assert!((s - (1.0 - 0.1 / 5.0)).abs() < 1e-9, "{s}");
    }

    /// `groups` tight clouds of `each` unit vectors around orthogonal directions of `dim`.
    fn clouds(groups: usize, each: usize, dim: usize, seed: u64) -> Matrix {
        let mut rng = Rng::new(seed);
        let mut v = Vec::new();
        for c in 0..groups {
            for _ in 0..each {
                let mut p: Vec<f32> = (0..dim).map(|_| 0.1 * rng.next_f64() as f32).collect();
                p[c] += 1.0;
                v.extend(p);
            }
        }
        let mut m = Matrix::new(v, dim).unwrap();
        m.normalize_rows();
        m
    }

    #[test]
    fn picks_the_number_of_directions() {
        let params = KMeansParams::new(3, 100, 1e-4, 0, None).unwrap();
        for groups in [3, 5, 9] {
            let m = clouds(groups, 40, 12, groups as u64);
            let (k, scores) = choose_k(&m, 2..=15, 10_000, &params).unwrap();
            assert_eq!(k, groups, "{scores:?}");
            let at = &scores[groups - 2];
            assert!(at.stability > 0.99, "{at:?}");
        }
    }

    #[test]
    fn the_same_seed_chooses_the_same_way() {
        let m = clouds(4, 30, 8, 3);
        let params = KMeansParams::new(1, 100, 1e-4, 11, None).unwrap();
        let a = choose_k(&m, 2..=20, 10_000, &params).unwrap();
        let b = choose_k(&m, 2..=20, 10_000, &params).unwrap();
        assert_eq!(a, b);
        // 120 rows: fine fits of 12 topics, so counts 2..=11, the top one unscored.
        assert_eq!(a.1.len(), 10);
        assert!(a.1.last().unwrap().score.is_none());
    }

    fn at(k: usize, stability: f64, silhouette: f64) -> KScore {
        KScore {
            k,
            stability,
            silhouette,
            score: None,
        }
    }

    #[test]
    fn a_stable_level_far_below_the_silhouettes_scale_is_not_chosen() {
        // Stability drops most after 3, but the silhouette is best around 20: the floor is 14
        // (2/3 of 20, rounded up), and of the counts from 14 the drop after 14 is the largest.
        let mut scores: Vec<KScore> = (2..=30)
            .map(|k| {
                let stability = match k {
                    2 | 3 => 1.0,
                    14 => 0.9,
                    _ => 0.7,
                };
                let silhouette = 0.05 + 0.002 * (20 - (k as i64 - 20).abs()) as f64;
                at(k, stability, silhouette)
            })
            .collect();
        assert_eq!(scale(&scores), 20);
        assert_eq!(pick(&mut scores), Some(14));
        assert!(scores
            .iter()
            .filter(|s| s.k < 14)
            .all(|s| s.score.is_none()));
        assert!(scores[..scores.len() - 1]
            .iter()
            .filter(|s| s.k >= 14)
            .all(|s| s.score.is_some()));
        assert!(scores.last().unwrap().score.is_none());
        // With a flat silhouette the floor is 2 and the coarse level wins.
        scores.iter_mut().for_each(|s| s.silhouette = 0.0625);
        assert_eq!(scale(&scores), 2);
        assert_eq!(pick(&mut scores), Some(3));
    }

    #[test]
    fn a_silhouette_jumping_at_one_count_does_not_set_the_scale() {
        // 0.075 up to 18, rising to a plateau of 0.080 over 20..=28, and one count (10) at 0.105:
        // averaged over two neighbours each side the jump would be the highest (0.081); over
        // four it is not, and the scale is the first count whose window lies on the plateau.
        let scores: Vec<KScore> = (2..=40)
            .map(|k| {
                let silhouette = match k {
                    10 => 0.105,
                    ..=18 => 0.075,
                    19 => 0.0775,
                    20..=28 => 0.080,
                    _ => 0.078,
                };
                at(k, 0.7, silhouette)
            })
            .collect();
        assert_eq!(scale(&scores), 24);
    }

    #[test]
    fn the_sharpest_loss_of_stability_wins_over_a_later_bump() {
        // `--k auto`'s own scores on AG News (4 classes), seed 4, counts 2..=15: stability
        // falls from 0.953 at 4 to 0.503 at 5, and comes back to 0.824 at 7. Compared with the
        // next three counts' best, 4 lost only 0.129 and 10 was chosen; compared with the next
        // count, 4 is.
        let mut scores: Vec<KScore> = [
            (2, 0.996, 0.0660),
            (3, 0.977, 0.0767),
            (4, 0.953, 0.0692),
            (5, 0.503, 0.0652),
            (6, 0.539, 0.0576),
            (7, 0.824, 0.0569),
            (8, 0.706, 0.0551),
            (9, 0.764, 0.0551),
            (10, 0.673, 0.0556),
            (11, 0.495, 0.0542),
            (12, 0.497, 0.0530),
            (13, 0.459, 0.0532),
            (14, 0.412, 0.0515),
            (15, 0.472, 0.0496),
        ]
        .into_iter()
        .map(|(k, stability, silhouette)| at(k, stability, silhouette))
        .collect();
        assert_eq!(scale(&scores), 2);
        assert_eq!(pick(&mut scores), Some(4));
        let four = scores[2].score.unwrap();
        assert!((four - 0.0692 * (0.953 - 0.503)).abs() < 1e-12, "{four}");
    }

    #[test]
    fn agreement_is_the_mean_ari_of_every_pair() {
        let a = vec![0, 0, 1, 1, 2, 2];
        let renamed = vec![2, 2, 0, 0, 1, 1];
        let other = vec![0, 1, 0, 1, 0, 1];
        assert_eq!(agreement(&[&a]), 1.0);
        assert!((agreement(&[&a, &renamed]) - 1.0).abs() < 1e-12);
        let mixed = agreement(&[&a, &renamed, &other]);
        let one = eval::score(&a, &other).ari;
        assert!(one < 0.5, "{one}");
        assert!((mixed - (1.0 + 2.0 * one) / 3.0).abs() < 1e-12, "{mixed}");
    }

    #[test]
    fn nothing_to_score_picks_nothing() {
        let mut one = vec![at(2, 1.0, 0.1)];
        assert_eq!(pick(&mut one), None);
        assert_eq!(pick(&mut []), None);
    }

    #[test]
    fn a_range_starting_near_the_rows_is_scored_on_the_subsamples_too() {
        // 18 rows from 17: fine fits of 18 topics, subsamples of 16 rows, so a subsample's tree
        // has fewer leaves than the count cut: its cut leaves a topic empty, refined anyway.
        let m = clouds(6, 3, 8, 5);
        let params = KMeansParams::new(1, 50, 1e-4, 3, None).unwrap();
        let (k, scores) = choose_k(&m, 17..=40, 10_000, &params).unwrap();
        assert_eq!(k, 17);
        assert_eq!(scores.len(), 1);
        assert!(scores[0].stability.is_finite() && scores[0].silhouette.is_finite());
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let m = clouds(1, 2, 4, 1);
        let params = KMeansParams::new(1, 10, 1e-4, 0, None).unwrap();
        assert!(matches!(
            choose_k(&m, 2..=40, 100, &params),
            Err(ClusterError::TooFewToChoose { n: 2, .. })
        ));
    }
}
