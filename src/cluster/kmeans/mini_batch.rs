//! Mini-batch k-means (Sculley 2010, "Web-scale k-means clustering"): centres move towards
//! random batches of rows with per-centre learning rates, for inputs too large for Lloyd's loop.

use super::lloyd::{nearest, row_norms, KMeansFit};
use crate::cluster::rng::Rng;
use crate::matrix::Matrix;

/// Nearest centre of each row of `data` and its squared distance.
fn assign(data: &Matrix, centroids: &Matrix) -> (Vec<usize>, Vec<f32>) {
    nearest(data, &row_norms(data), centroids)
}

pub(super) fn mini_batch(
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
