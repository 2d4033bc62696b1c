//! k-means++ seeding, greedy as scikit-learn's `_kmeans_plusplus`: each new centre is the best
//! of several candidates drawn in proportion to the squared distance to the nearest centre.

use super::lloyd::{row_norms, sq_dist_matrix};
use crate::cluster::rng::Rng;
use crate::matrix::Matrix;

/// Greedy k-means++: each new centre is the best (lowest potential) of 2 + ln k candidates drawn
/// with probability proportional to the squared distance to the nearest chosen centre. Distances
/// come from `sq_dist_matrix`, all candidates in one matrix product, as in [`super::assign`].
pub fn plus_plus(data: &Matrix, k: usize, rng: &mut Rng) -> Matrix {
    let n = data.rows();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let norms = row_norms(data);
    let first = rng.below(n);
    let mut centres = vec![first];
    let mut closest = sq_dists(data, &norms, &[first])
        .pop()
        .expect("one candidate");
    let mut potential: f64 = closest.iter().map(|&d| d as f64).sum();
    while centres.len() < k {
        if potential <= 0.0 {
            // All remaining points coincide with a centre: take any point not yet chosen.
            let next = (0..n).find(|i| !centres.contains(i)).unwrap_or(0);
            centres.push(next);
            continue;
        }
        let candidates: Vec<usize> = (0..trials)
            .map(|_| draw(&closest, potential, rng))
            .collect();
        let (best, best_closest, best_potential) = candidates
            .iter()
            .zip(sq_dists(data, &norms, &candidates))
            .map(|(&c, mut dists)| {
                for (d, &old) in dists.iter_mut().zip(&closest) {
                    *d = d.min(old);
                }
                let pot: f64 = dists.iter().map(|&d| d as f64).sum();
                (c, dists, pot)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .expect("at least two trials");
        centres.push(best);
        closest = best_closest;
        potential = best_potential;
    }
    data.select(&centres)
}

/// For each row index in `of`, the squared distance of every row of `data` to that row
/// (`norms` holds the rows' squared lengths).
fn sq_dists(data: &Matrix, norms: &[f32], of: &[usize]) -> Vec<Vec<f32>> {
    let all = sq_dist_matrix(data, norms, &data.select(of));
    (0..of.len())
        .map(|t| all.iter().skip(t).step_by(of.len()).copied().collect())
        .collect()
}

fn draw(weights: &[f32], total: f64, rng: &mut Rng) -> usize {
    let target = rng.next_f64() * total;
    let mut acc = 0f64;
    for (i, &w) in weights.iter().enumerate() {
        acc += w as f64;
        if acc > target {
            return i;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}
