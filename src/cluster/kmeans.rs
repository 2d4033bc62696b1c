//! k-means on L2-normalized embeddings: k-means++ seeding (greedy, as scikit-learn's `_kmeans_plusplus`),
//! Lloyd iterations, `n_init` restarts keeping the lowest inertia, and a mini-batch variant
//! (Sculley 2010, "Web-scale k-means clustering") for large inputs. Deterministic for a seed.

use rayon::prelude::*;

use super::rng::Rng;
use super::ClusterError;
use crate::matrix::{dot, dots, sq_dist, Matrix};

/// Checked k-means parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansParams {
    k: usize,
    n_init: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    mini_batch: Option<usize>,
}

impl KMeansParams {
    /// `k` ≥ 1, `n_init` ≥ 1, `max_iter` ≥ 1, `tol` ≥ 0 and finite, `mini_batch` (rows per step) ≥ 1.
    pub fn new(
        k: usize,
        n_init: usize,
        max_iter: usize,
        tol: f64,
        seed: u64,
        mini_batch: Option<usize>,
    ) -> Result<Self, ClusterError> {
        let bad = |m: &str| Err(ClusterError::Params(m.to_string()));
        if k == 0 {
            return bad("k must be at least 1");
        }
        if n_init == 0 {
            return bad("--n-init must be at least 1");
        }
        if max_iter == 0 {
            return bad("--max-iter must be at least 1");
        }
        if !(tol.is_finite() && tol >= 0.0) {
            return bad("--tol must be a finite number ≥ 0");
        }
        if mini_batch == Some(0) {
            return bad("the mini-batch size must be at least 1");
        }
        Ok(Self {
            k,
            n_init,
            max_iter,
            tol,
            seed,
            mini_batch,
        })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn with_k(&self, k: usize) -> Result<Self, ClusterError> {
        Self::new(
            k,
            self.n_init,
            self.max_iter,
            self.tol,
            self.seed,
            self.mini_batch,
        )
    }
}

/// A k-means solution.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansFit {
    pub labels: Vec<usize>,
    /// k × dim.
    pub centroids: Matrix,
    pub inertia: f64,
    pub iterations: usize,
}

/// Runs k-means on the CPU. Errors when there are fewer rows than k.
pub fn fit(data: &Matrix, params: &KMeansParams) -> Result<KMeansFit, ClusterError> {
    fit_on(data, params, None)
}

/// Runs k-means; with a device, Lloyd's iterations run there (seeding stays on the CPU, so the
/// same seed gives the same initial centroids on every device). Mini-batch runs on the CPU.
pub fn fit_on(
    data: &Matrix,
    params: &KMeansParams,
    device: Option<&candle_core::Device>,
) -> Result<KMeansFit, ClusterError> {
    let n = data.rows();
    if params.k > n {
        return Err(ClusterError::TooFewPoints { k: params.k, n });
    }
    // scikit-learn's tolerance: relative to the mean per-feature variance of the data.
    let tol = params.tol * mean_variance(data);
    let mut best: Option<KMeansFit> = None;
    for run in 0..params.n_init {
        let mut rng = Rng::new(params.seed.wrapping_add(run as u64 * 0x9e37_79b9));
        let init = plus_plus(data, params.k, &mut rng);
        let fit = match (params.mini_batch, device) {
            (Some(batch), _) if batch < n => {
                mini_batch(data, init, batch, params.max_iter, &mut rng)
            }
            (_, Some(device)) => {
                super::device_kmeans::lloyd_on(device, data, &init, params.max_iter, tol)
                    .map_err(|e| ClusterError::Device(e.to_string()))?
            }
            _ => lloyd(data, init, params.max_iter, tol),
        };
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    Ok(best.expect("n_init ≥ 1"))
}

fn mean_variance(data: &Matrix) -> f64 {
    let (n, d) = (data.rows(), data.dim());
    let mut mean = vec![0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(data.row(i)) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = 0f64;
    for i in 0..n {
        for (m, v) in mean.iter().zip(data.row(i)) {
            var += (*v as f64 - m).powi(2);
        }
    }
    var / (n * d) as f64
}

/// Greedy k-means++: each new centre is the best (lowest potential) of 2 + ln k candidates drawn
/// with probability proportional to the squared distance to the nearest chosen centre. Distances
/// come from [`sq_dist_matrix`], all candidates in one matrix product, as in [`assign`].
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

/// The squared distance of every row of `data` (`norms`: their squared lengths) to every row of
/// `centres`, as ‖x‖² + ‖c‖² − 2x·c: a rows × centres row-major matrix. The x·c come from matrix
/// products over blocks of rows (the block and the centres stay in cache), side by side on
/// rayon's threads.
fn sq_dist_matrix(data: &Matrix, norms: &[f32], centres: &Matrix) -> Vec<f32> {
    const BLOCK: usize = 256;
    let d = data.dim();
    let centre_norms = row_norms(centres);
    let blocks: Vec<Vec<f32>> = data
        .as_slice()
        .par_chunks(BLOCK * d)
        .zip(norms.par_chunks(BLOCK))
        .map(|(block, block_norms)| {
            let mut products = dots(block, centres.as_slice(), d);
            for (row, &xx) in products
                .chunks_exact_mut(centre_norms.len())
                .zip(block_norms)
            {
                for (p, &cc) in row.iter_mut().zip(&centre_norms) {
                    *p = (xx + cc - 2.0 * *p).max(0.0);
                }
            }
            products
        })
        .collect();
    blocks.concat()
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

/// Nearest centre of each row and its squared distance (see [`sq_dist_matrix`]); ties go to the
/// lowest centre.
pub fn assign(data: &Matrix, centroids: &Matrix) -> (Vec<usize>, Vec<f32>) {
    assign_normed(data, &row_norms(data), centroids)
}

/// Each row's squared length.
pub(super) fn row_norms(data: &Matrix) -> Vec<f32> {
    (0..data.rows())
        .map(|i| dot(data.row(i), data.row(i)))
        .collect()
}

/// [`assign`] with the rows' squared lengths given (Lloyd's loop computes them once).
fn assign_normed(data: &Matrix, row_norms: &[f32], centroids: &Matrix) -> (Vec<usize>, Vec<f32>) {
    sq_dist_matrix(data, row_norms, centroids)
        .par_chunks(centroids.rows())
        .map(|dists| {
            let mut best = (0, f32::INFINITY);
            for (c, &dist) in dists.iter().enumerate() {
                if dist < best.1 {
                    best = (c, dist);
                }
            }
            best
        })
        .unzip()
}

fn lloyd(data: &Matrix, mut centroids: Matrix, max_iter: usize, tol: f64) -> KMeansFit {
    let (k, d) = (centroids.rows(), data.dim());
    let mut labels = Vec::new();
    let mut iterations = 0;
    let norms = row_norms(data);
    for _ in 0..max_iter {
        iterations += 1;
        let (new_labels, dists) = assign_normed(data, &norms, &centroids);
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &c) in new_labels.iter().enumerate() {
            counts[c] += 1;
            for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(data.row(i)) {
                *s += *v as f64;
            }
        }
        let mut taken: Vec<usize> = Vec::new();
        for c in 0..k {
            if counts[c] == 0 {
                let far = farthest_untaken(&dists, &mut taken);
                counts[c] = 1;
                for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(data.row(far)) {
                    *s = *v as f64;
                }
            }
        }
        let next: Vec<f32> = (0..k * d)
            .map(|j| (sums[j] / counts[j / d] as f64) as f32)
            .collect();
        let next = Matrix::new(next, d).expect("k × d");
        let shift = centre_shift(&centroids, &next);
        let unchanged = new_labels == labels;
        centroids = next;
        labels = new_labels;
        if unchanged || shift <= tol {
            break;
        }
    }
    // Final assignment against the final centres, so labels and inertia agree.
    let (labels, dists) = assign_normed(data, &norms, &centroids);
    KMeansFit {
        labels,
        inertia: dists.iter().map(|&v| v as f64).sum(),
        centroids,
        iterations,
    }
}

/// Where an empty cluster restarts: the row farthest from its centre (`dists`) that no other
/// empty cluster has taken (as scikit-learn relocates them); recorded in `taken`.
pub(super) fn farthest_untaken(dists: &[f32], taken: &mut Vec<usize>) -> usize {
    let far = (0..dists.len())
        .filter(|i| !taken.contains(i))
        .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
        .unwrap_or(0);
    taken.push(far);
    far
}

/// How far the centres moved in one iteration: the sum of their squared displacements
/// (Lloyd's loop stops once it is at most the tolerance).
pub(super) fn centre_shift(old: &Matrix, new: &Matrix) -> f64 {
    (0..old.rows())
        .map(|c| sq_dist(old.row(c), new.row(c)) as f64)
        .sum()
}

fn mini_batch(
    data: &Matrix,
    mut centroids: Matrix,
    batch: usize,
    max_iter: usize,
    rng: &mut Rng,
) -> KMeansFit {
    let (n, k, d) = (data.rows(), centroids.rows(), data.dim());
    let mut counts = vec![0f64; k];
    // max_iter passes over the data, in steps of `batch` rows.
    let steps = max_iter * n.div_ceil(batch);
    let mut centre = centroids.clone().into_vec();
    for _ in 0..steps {
        let rows = rng.sample(n, batch);
        let sample = data.select(&rows);
        let (labels, _) = assign(&sample, &centroids);
        for (j, &c) in labels.iter().enumerate() {
            counts[c] += 1.0;
            let eta = (1.0 / counts[c]) as f32;
            for (m, v) in centre[c * d..(c + 1) * d].iter_mut().zip(sample.row(j)) {
                *m += eta * (*v - *m);
            }
        }
        centroids = Matrix::new(centre.clone(), d).expect("k × d");
    }
    let (labels, dists) = assign(data, &centroids);
    KMeansFit {
        labels,
        inertia: dists.iter().map(|&v| v as f64).sum(),
        centroids,
        iterations: steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `per` points around each of `centres`, jittered by at most `spread`.
    pub(crate) fn blobs(
        centres: &[[f32; 3]],
        per: usize,
        spread: f32,
        seed: u64,
    ) -> (Matrix, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                for v in centre {
                    data.push(v + spread * (rng.next_f64() as f32 - 0.5));
                }
                truth.push(c);
            }
        }
        (Matrix::new(data, 3).unwrap(), truth)
    }

    fn same_partition(a: &[usize], b: &[usize]) -> bool {
        let mut map = std::collections::HashMap::new();
        a.iter()
            .zip(b)
            .all(|(x, y)| *map.entry(*x).or_insert(*y) == *y)
            && map.values().collect::<std::collections::HashSet<_>>().len() == map.len()
    }

    const CENTRES: [[f32; 3]; 4] = [[10., 0., 0.], [0., 10., 0.], [0., 0., 10.], [10., 10., 10.]];

    #[test]
    fn recovers_separated_blobs_and_is_reproducible() {
        let (data, truth) = blobs(&CENTRES, 50, 1.0, 3);
        let params = KMeansParams::new(4, 5, 100, 1e-4, 42, None).unwrap();
        let a = fit(&data, &params).unwrap();
        assert!(same_partition(&a.labels, &truth), "{:?}", a.labels);
        let b = fit(&data, &params).unwrap();
        assert_eq!(a, b, "same seed, same result");
    }

    #[test]
    fn mini_batch_recovers_blobs_too() {
        let (data, truth) = blobs(&CENTRES, 200, 1.0, 5);
        let params = KMeansParams::new(4, 3, 20, 1e-4, 1, Some(64)).unwrap();
        let fit = fit(&data, &params).unwrap();
        assert!(same_partition(&fit.labels, &truth));
    }

    #[test]
    fn rejects_bad_parameters_and_k_above_n() {
        assert!(KMeansParams::new(0, 1, 1, 0.0, 0, None).is_err());
        assert!(KMeansParams::new(2, 0, 1, 0.0, 0, None).is_err());
        assert!(KMeansParams::new(2, 1, 1, f64::NAN, 0, None).is_err());
        let (data, _) = blobs(&CENTRES[..1], 3, 1.0, 1);
        let err = fit(&data, &KMeansParams::new(5, 1, 10, 0.0, 0, None).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("5 clusters") && err.to_string().contains("3"),
            "{err}"
        );
    }

    #[test]
    fn assign_picks_the_nearest_centre_of_every_row() {
        // More rows than one block, unit rows as the pipeline gives them.
        let mut rng = Rng::new(11);
        let (n, k, d) = (1000, 13, 24);
        let mut data =
            Matrix::new((0..n * d).map(|_| rng.next_f64() as f32 - 0.5).collect(), d).unwrap();
        data.normalize_rows();
        let centroids = data.select(&(0..k).map(|c| c * 71).collect::<Vec<_>>());
        let (labels, dists) = assign(&data, &centroids);
        for i in 0..n {
            let exact: Vec<f32> = (0..k)
                .map(|c| sq_dist(data.row(i), centroids.row(c)))
                .collect();
            let best = exact.iter().copied().fold(f32::INFINITY, f32::min);
            // The chosen centre is the nearest, up to rounding of the expanded distance.
            assert!(
                exact[labels[i]] <= best + 1e-5,
                "row {i}: {} vs {best}",
                exact[labels[i]]
            );
            assert!((dists[i] - exact[labels[i]]).abs() < 1e-5, "row {i}");
        }
    }

    #[test]
    fn identical_points_do_not_break_it() {
        let data = Matrix::new(vec![1.0; 30], 3).unwrap();
        let fit = fit(&data, &KMeansParams::new(3, 2, 10, 1e-4, 0, None).unwrap()).unwrap();
        assert_eq!(fit.labels.len(), 10);
        assert!(fit.inertia.abs() < 1e-9);
    }
}
