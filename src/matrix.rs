//! A dense row-major f32 matrix: the embeddings handed from the embedding stage to clustering.

/// `rows × dim` values, row after row.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    data: Vec<f32>,
    dim: usize,
}

impl Matrix {
    /// `data.len()` must be a multiple of `dim` (> 0).
    pub fn new(data: Vec<f32>, dim: usize) -> Option<Self> {
        (dim > 0 && data.len() % dim == 0).then_some(Self { data, dim })
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The rows picked by `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.dim);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            data,
            dim: self.dim,
        }
    }

    /// Scales every row to unit length (zero rows stay zero).
    pub fn normalize_rows(&mut self) {
        for row in self.data.chunks_exact_mut(self.dim) {
            let norm = dot(row, row).sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|v| *v /= norm);
            }
        }
    }
}

/// Dot product, accumulated in 8 lanes so it vectorizes.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}

/// Squared Euclidean distance.
pub fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            lanes[i] += d * d;
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_dot_and_distance() {
        let mut m = Matrix::new((0..20).map(|v| v as f32).collect(), 10).unwrap();
        assert_eq!(m.rows(), 2);
        assert_eq!(dot(m.row(0), m.row(0)), 285.0);
        assert_eq!(sq_dist(m.row(0), m.row(1)), 1000.0);
        m.normalize_rows();
        assert!((dot(m.row(1), m.row(1)) - 1.0).abs() < 1e-6);
        assert!(Matrix::new(vec![1.0; 7], 2).is_none());
    }
}
