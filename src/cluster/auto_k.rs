//! Choosing k: k-means for each k in a range on a sample, scored by the mean silhouette
//! (Rousseeuw 1987) with cosine distance; the k with the highest score wins.

use super::error::ClusterError;
use super::kmeans::{self, KMeansParams};
use super::rng::Rng;
use crate::matrix::{dots, Matrix};
use crate::setting::Setting;
use rayon::prelude::*;

/// The silhouette of one k.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KScore {
    pub k: usize,
    pub silhouette: f64,
}

/// Scores every k in `range` on at most `sample` rows with `params` (see
/// [`KMeansParams::for_scoring`]); returns the best k and all scores.
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
    let mut rows = rng.sample(n, sample.min(n));
    rows.sort_unstable();
    let s = data.select(&rows);
    let m = s.rows();
    // Cosine distances between sample rows (rows are unit length), from one matrix product
    // computed in blocks of rows side by side.
    let d = s.dim();
    let dist: Vec<f32> = s
        .as_slice()
        .par_chunks(64 * d)
        .flat_map_iter(|block| dots(block, s.as_slice(), d).into_iter().map(|p| 1.0 - p))
        .collect();
    let (lo, hi) = (*range.start().max(&2), (*range.end()).min(m - 1));
    if lo > hi {
        return Err(ClusterError::NoKToTry {
            min: *range.start(),
            max: *range.end(),
            rows: m,
        });
    }
    let mut scores = Vec::new();
    for k in lo..=hi {
        let fit = kmeans::fit(&s, k, params)?;
        scores.push(KScore {
            k,
            silhouette: silhouette(&dist, &fit.labels, k),
        });
    }
    let best = scores
        .iter()
        .max_by(|a, b| a.silhouette.total_cmp(&b.silhouette).then(b.k.cmp(&a.k)))
        .expect("at least one k")
        .k;
    Ok((best, scores))
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

    #[test]
    fn picks_the_number_of_directions() {
        // Unit vectors in 3 well-separated directions.
        let mut rng = Rng::new(9);
        let mut v = Vec::new();
        for c in 0..3 {
            for _ in 0..20 {
                let mut p = [
                    0.05 * rng.next_f64() as f32,
                    0.05 * rng.next_f64() as f32,
                    0.05 * rng.next_f64() as f32,
                    0.0,
                ];
                p[c] += 1.0;
                v.extend_from_slice(&p);
            }
        }
        let mut m = Matrix::new(v, 4).unwrap();
        m.normalize_rows();
        let params = KMeansParams::new(3, 50, 1e-4, 0, None).unwrap();
        let (k, scores) = choose_k(&m, 2..=8, 1000, &params).unwrap();
        assert_eq!(k, 3, "{scores:?}");
        assert_eq!(scores.len(), 7);
    }
}
