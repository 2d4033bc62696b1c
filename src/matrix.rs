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

/// The dot products of every row of `a` (m × `dim`, row-major) with every row of `b`
/// (n × `dim`): an m × n row-major matrix, `a · bᵀ`, by the gemm crate's matrix kernels (the ones
/// the CPU embedding uses), on the calling thread.
pub fn dots(a: &[f32], b: &[f32], dim: usize) -> Vec<f32> {
    assert!(
        dim > 0 && a.len() % dim == 0 && b.len() % dim == 0,
        "rows of {dim} values"
    );
    let (m, n) = (a.len() / dim, b.len() / dim);
    let mut out = vec![0f32; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    // SAFETY: `out` holds m × n values (row stride n), `a` m × dim (row stride dim); `b` read as
    // its transpose is dim × n with row stride 1 and column stride dim: every index the kernel
    // reads or writes is inside its slice, and `out` does not overlap the inputs.
    unsafe {
        gemm_into(
            (m, n, dim),
            (out.as_mut_ptr(), n as isize),
            (a.as_ptr(), dim as isize, 1),
            (b.as_ptr(), 1, dim as isize),
            1.0,
        );
    }
    out
}

/// `dst = scale · lhs · rhs` (m × k times k × n) by the gemm crate's kernels on the calling
/// thread. Each matrix is a pointer with its row and column strides, in elements; `dst`'s rows
/// are contiguous. Strides let a caller read a transpose, or a block of a wider matrix, in place.
///
/// # Safety
/// Every element the shapes and strides address must lie inside its allocation, and `dst` must
/// not overlap `lhs` or `rhs`.
pub(crate) unsafe fn gemm_into(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (*mut f32, isize),
    (lhs, lhs_rs, lhs_cs): (*const f32, isize, isize),
    (rhs, rhs_rs, rhs_cs): (*const f32, isize, isize),
    scale: f32,
) {
    // SAFETY: the caller's promise above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs,
            false,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
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

    #[test]
    fn dots_is_every_row_pair_product() {
        // Sizes off the kernels' tile sizes, a dimension that is not a multiple of 8.
        for (m, n, d) in [(1, 1, 1), (7, 3, 5), (300, 21, 37), (5, 40, 384)] {
            let a: Vec<f32> = (0..m * d)
                .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..n * d)
                .map(|i| ((i * 104_729) % 97) as f32 / 48.0 - 1.0)
                .collect();
            let got = dots(&a, &b, d);
            assert_eq!(got.len(), m * n);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..d)
                        .map(|t| a[i * d + t] as f64 * b[j * d + t] as f64)
                        .sum();
                    let g = got[i * n + j] as f64;
                    assert!(
                        (g - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{m}x{n}x{d} ({i},{j}): {g} vs {want}"
                    );
                }
            }
        }
        assert!(dots(&[], &[1.0, 2.0], 2).is_empty());
    }
}
