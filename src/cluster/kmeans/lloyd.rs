//! Lloyd's iterations, once: the loop (empty-cluster restarts, the stopping rule, the final
//! assignment) over two steps that run where the data is, on the CPU ([`CpuSteps`]) or on a
//! candle device (`device.rs`).

use rayon::prelude::*;

use crate::cluster::error::ClusterError;
use crate::matrix::{dot, dots, sq_dist, Matrix};

/// The two steps of an iteration, over the rows they were made for.
pub(crate) trait Steps {
    /// Each row's nearest centre (the first of equally near ones); remembers the labels for
    /// [`Steps::means`] and the squared distances for [`Steps::distances`].
    fn assign(&mut self, centres: &Matrix) -> Result<Vec<usize>, ClusterError>;
    /// The squared distance of each row to the centre the last [`Steps::assign`] gave it.
    fn distances(&mut self) -> Result<Vec<f32>, ClusterError>;
    /// k × D: the mean of each centre's rows under the last assignment (`counts[c]` rows each);
    /// rows of empty centres are left to the caller.
    fn means(&mut self, counts: &[usize]) -> Result<Vec<f32>, ClusterError>;
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

/// Runs Lloyd's iterations from `centroids` until the labels stop changing, the centres move
/// (summed squared shift) at most `tol`, or `max_iter` iterations.
pub(crate) fn lloyd(
    steps: &mut impl Steps,
    data: &Matrix,
    mut centroids: Matrix,
    max_iter: usize,
    tol: f64,
) -> Result<KMeansFit, ClusterError> {
    let (k, d) = (centroids.rows(), data.dim());
    let mut labels = Vec::new();
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let new_labels = steps.assign(&centroids)?;
        let mut counts = vec![0usize; k];
        for &c in &new_labels {
            counts[c] += 1;
        }
        let mut next = steps.means(&counts)?;
        if counts.contains(&0) {
            // Rare: an empty cluster restarts at the row farthest from its centre.
            let dists = steps.distances()?;
            let mut taken: Vec<usize> = Vec::new();
            for (c, row) in next.chunks_exact_mut(d).enumerate() {
                if counts[c] == 0 {
                    row.copy_from_slice(data.row(farthest_untaken(&dists, &mut taken)));
                }
            }
        }
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
    let labels = steps.assign(&centroids)?;
    let inertia = steps.distances()?.iter().map(|&v| f64::from(v)).sum();
    Ok(KMeansFit {
        labels,
        inertia,
        centroids,
        iterations,
    })
}

/// Where an empty cluster restarts: the row farthest from its centre (`dists`) that no other
/// empty cluster has taken (as scikit-learn relocates them); recorded in `taken`.
fn farthest_untaken(dists: &[f32], taken: &mut Vec<usize>) -> usize {
    let far = (0..dists.len())
        .filter(|i| !taken.contains(i))
        .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
        .unwrap_or(0);
    taken.push(far);
    far
}

/// How far the centres moved in one iteration: the sum of their squared displacements.
fn centre_shift(old: &Matrix, new: &Matrix) -> f64 {
    (0..old.rows())
        .map(|c| sq_dist(old.row(c), new.row(c)) as f64)
        .sum()
}

/// Each row's squared length.
pub(crate) fn row_norms(data: &Matrix) -> Vec<f32> {
    (0..data.rows())
        .map(|i| dot(data.row(i), data.row(i)))
        .collect()
}

/// The steps on the CPU: distances from blocked matrix products on rayon's threads, means
/// summed in f64. The sums are kept between iterations and moved by the rows whose centre
/// changed (after the first few iterations a small share of them), rather than summed again.
pub(crate) struct CpuSteps<'a> {
    data: &'a Matrix,
    norms: Vec<f32>,
    labels: Vec<usize>,
    dists: Vec<f32>,
    /// k × D sums of the rows under `summed`, the labels they were last brought to.
    sums: Vec<f64>,
    summed: Vec<usize>,
}

impl<'a> CpuSteps<'a> {
    pub(crate) fn new(data: &'a Matrix) -> Self {
        Self::with_norms(data, row_norms(data))
    }

    /// With the rows' squared lengths already worked out ([`row_norms`]).
    pub(crate) fn with_norms(data: &'a Matrix, norms: Vec<f32>) -> Self {
        Self {
            data,
            norms,
            labels: Vec::new(),
            dists: Vec::new(),
            sums: Vec::new(),
            summed: Vec::new(),
        }
    }

    /// Brings `sums` to the current labels: the changed rows moved from their old centre's sum to
    /// their new one's, or every row summed afresh when there are no sums for these labels yet or
    /// more than a quarter of the rows changed.
    fn update_sums(&mut self, k: usize) {
        let d = self.data.dim();
        let fresh = self.sums.len() != k * d || self.summed.len() != self.labels.len() || {
            let changed = self
                .summed
                .iter()
                .zip(&self.labels)
                .filter(|(a, b)| a != b)
                .count();
            changed * 4 > self.labels.len()
        };
        if fresh {
            self.sums.clear();
            self.sums.resize(k * d, 0.0);
            for (i, &c) in self.labels.iter().enumerate() {
                add_row(&mut self.sums[c * d..(c + 1) * d], self.data.row(i), 1.0);
            }
        } else {
            for (i, (old, &new)) in self.summed.iter().zip(&self.labels).enumerate() {
                if *old != new {
                    let row = self.data.row(i);
                    add_row(&mut self.sums[old * d..(old + 1) * d], row, -1.0);
                    add_row(&mut self.sums[new * d..(new + 1) * d], row, 1.0);
                }
            }
        }
        self.summed.clone_from(&self.labels);
    }
}

/// `sum += sign · row`, in f64.
fn add_row(sum: &mut [f64], row: &[f32], sign: f64) {
    for (s, v) in sum.iter_mut().zip(row) {
        *s += sign * f64::from(*v);
    }
}

impl Steps for CpuSteps<'_> {
    fn assign(&mut self, centres: &Matrix) -> Result<Vec<usize>, ClusterError> {
        let (labels, dists) = nearest(self.data, &self.norms, centres);
        self.labels = labels.clone();
        self.dists = dists;
        Ok(labels)
    }

    fn distances(&mut self) -> Result<Vec<f32>, ClusterError> {
        Ok(self.dists.clone())
    }

    fn means(&mut self, counts: &[usize]) -> Result<Vec<f32>, ClusterError> {
        let d = self.data.dim();
        self.update_sums(counts.len());
        Ok(self
            .sums
            .iter()
            .enumerate()
            .map(|(j, s)| (s / counts[j / d].max(1) as f64) as f32)
            .collect())
    }
}

/// Nearest centre of each row and its squared distance (see [`sq_dist_matrix`]); ties go to the
/// lowest centre. `norms`: the rows' squared lengths.
pub(crate) fn nearest(data: &Matrix, norms: &[f32], centres: &Matrix) -> (Vec<usize>, Vec<f32>) {
    sq_dist_matrix(data, norms, centres)
        .par_chunks(centres.rows())
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

/// The squared distance of every row of `data` (`norms`: their squared lengths) to every row of
/// `centres`, as ‖x‖² + ‖c‖² − 2x·c: a rows × centres row-major matrix. The x·c come from matrix
/// products over blocks of rows (the block and the centres stay in cache), side by side on
/// rayon's threads.
pub(crate) fn sq_dist_matrix(data: &Matrix, norms: &[f32], centres: &Matrix) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The means from sums moved row by row equal the means summed afresh.
    #[test]
    fn moved_sums_give_the_fresh_means() {
        let (n, d, k) = (40, 3, 4);
        let values: Vec<f32> = (0..n * d).map(|i| ((i * 37) % 23) as f32 - 11.5).collect();
        let data = Matrix::new(values, d).unwrap();
        let counts = |labels: &[usize]| {
            let mut c = vec![0usize; k];
            labels.iter().for_each(|&l| c[l] += 1);
            c
        };
        let mut labels: Vec<usize> = (0..n).map(|i| i % k).collect();
        let mut kept = CpuSteps::new(&data);
        kept.labels = labels.clone();
        kept.means(&counts(&labels)).unwrap();
        // Two rounds of a few rows moving (fewer than a quarter: the sums are moved), then most
        // of them (summed afresh).
        for moved in [vec![1, 5, 9], vec![0, 4, 8, 12, 16, 20], (0..30).collect()] {
            for &i in &moved {
                labels[i] = (labels[i] + 1) % k;
            }
            kept.labels = labels.clone();
            let c = counts(&labels);
            let got = kept.means(&c).unwrap();
            let mut fresh = CpuSteps::new(&data);
            fresh.labels = labels.clone();
            let want = fresh.means(&c).unwrap();
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                if c[j / d] > 0 {
                    assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{j}: {g} vs {w}");
                }
            }
        }
    }
}
