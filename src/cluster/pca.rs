//! PCA by subspace (block power) iteration on the covariance matrix: enough for reducing
//! 384-d embeddings to a handful of dimensions before density clustering.

use rayon::prelude::*;

use super::rng::Rng;
use crate::matrix::{dot, Matrix};

/// The mean and the top principal directions of a data set.
pub struct Pca {
    mean: Vec<f32>,
    /// `dims` × D, orthonormal rows.
    components: Matrix,
}

impl Pca {
    /// Fits `dims` components (at most D). Deterministic for a seed.
    pub fn fit(data: &Matrix, dims: usize, seed: u64) -> Pca {
        let (n, d) = (data.rows(), data.dim());
        let r = dims.clamp(1, d);
        let mut mean = vec![0f64; d];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(data.row(i)) {
                *m += *v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        // Covariance, D × D: partial sums over fixed row blocks in parallel, added in block
        // order so the result does not depend on thread timing.
        let partials: Vec<Vec<f64>> = (0..n)
            .collect::<Vec<_>>()
            .par_chunks(256)
            .map(|block| {
                let mut acc = vec![0f64; d * d];
                let mut x = vec![0f64; d];
                for &i in block {
                    for ((x, v), m) in x.iter_mut().zip(data.row(i)).zip(&mean) {
                        *x = *v as f64 - m;
                    }
                    for a in 0..d {
                        let xa = x[a];
                        for (c, xb) in acc[a * d..(a + 1) * d].iter_mut().zip(&x) {
                            *c += xa * xb;
                        }
                    }
                }
                acc
            })
            .collect();
        let mut cov = vec![0f64; d * d];
        for p in &partials {
            cov.iter_mut().zip(p).for_each(|(c, v)| *c += v);
        }
        cov.iter_mut().for_each(|c| *c /= n.max(1) as f64);
        let mut rng = Rng::new(seed);
        let mut q: Vec<Vec<f64>> = (0..r)
            .map(|_| (0..d).map(|_| rng.next_f64() - 0.5).collect())
            .collect();
        orthonormalize(&mut q);
        for _ in 0..60 {
            q = q
                .iter()
                .map(|v| {
                    (0..d)
                        .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                        .collect()
                })
                .collect();
            orthonormalize(&mut q);
        }
        let components: Vec<f32> = q.iter().flatten().map(|&v| v as f32).collect();
        Pca {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            components: Matrix::new(components, d).expect("r × d"),
        }
    }

    /// Projects rows onto the components (N × dims).
    pub fn transform(&self, data: &Matrix) -> Matrix {
        let r = self.components.rows();
        let out: Vec<f32> = (0..data.rows())
            .into_par_iter()
            .flat_map_iter(|i| {
                let x: Vec<f32> = data
                    .row(i)
                    .iter()
                    .zip(&self.mean)
                    .map(|(v, m)| v - m)
                    .collect();
                (0..r).map(move |c| dot(&x, self.components.row(c)))
            })
            .collect();
        Matrix::new(out, r).expect("n × r")
    }
}

/// Gram–Schmidt, twice for stability.
fn orthonormalize(q: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for i in 0..q.len() {
            for j in 0..i {
                let proj: f64 = q[i].iter().zip(&q[j]).map(|(a, b)| a * b).sum();
                let (head, tail) = q.split_at_mut(i);
                tail[0]
                    .iter_mut()
                    .zip(&head[j])
                    .for_each(|(a, b)| *a -= proj * b);
            }
            let norm = q[i].iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
            q[i].iter_mut().for_each(|a| *a /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_direction_of_largest_spread() {
        // Points along (1, 1, 0)/√2 with small noise in the other directions.
        let mut rng = Rng::new(2);
        let mut v = Vec::new();
        for _ in 0..200 {
            let t = (rng.next_f64() as f32 - 0.5) * 10.0;
            v.extend_from_slice(&[
                t + 0.01 * rng.next_f64() as f32,
                t,
                0.05 * rng.next_f64() as f32,
            ]);
        }
        let m = Matrix::new(v, 3).unwrap();
        let pca = Pca::fit(&m, 1, 0);
        let c = pca.components.row(0);
        assert!(
            (c[0].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01
                && (c[1].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{c:?}"
        );
        assert_eq!(pca.transform(&m).dim(), 1);
    }
}
