//! Self-attention of the padded pass on the CPU, fused into one candle custom op.
//!
//! Input: the Q/K/V product of a batch, (batch, seq, 3 × hidden), laid out q | k | v, each split
//! into heads. For each text and head it computes `softmax(q·kᵀ · scale) · v` over the text's
//! real tokens only (texts are padded at the end), reading q, k and v in place through the gemm
//! crate's strides and keeping one seq × seq score block, which stays in cache. The unfused ops
//! (copies of q, k and v into head-major order, the scaling, the mask added to a
//! batch × heads × seq × seq tensor, softmax into another, the copy back into token-major order)
//! each made a pass over fresh memory: on 20 Newsgroups' long posts those passes and the zeroing
//! of their new pages were about a fifth of the embedding time.
//! Rows of padding get a context of zeros; nothing real reads them (their keys are left out and
//! pooling masks them).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::fastmath::{contiguous_f32, exp_rows};
use crate::matrix::gemm_into;

pub(super) struct CpuAttention {
    /// Real tokens of each text (≥ 1, ≤ seq).
    pub lengths: Vec<usize>,
    pub heads: usize,
    pub head_dim: usize,
    pub scale: f32,
}

impl CustomOp1 for CpuAttention {
    fn name(&self) -> &'static str {
        "newsclust-cpu-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = contiguous_f32(storage, layout, self.name())?;
        let (b, n, three) = layout.shape().dims3()?;
        let (heads, hd) = (self.heads, self.head_dim);
        let hidden = heads * hd;
        if three != 3 * hidden || self.lengths.len() != b {
            candle_core::bail!(
                "{}: shape {:?} for {heads} heads of {hd} and {} lengths",
                self.name(),
                layout.dims(),
                self.lengths.len()
            );
        }
        if let Some(&bad) = self.lengths.iter().find(|&&l| l == 0 || l > n) {
            candle_core::bail!("{}: length {bad} outside 1..={n}", self.name());
        }
        let mut out = vec![0f32; b * n * hidden];
        if b == 0 || n == 0 {
            return Ok((CpuStorage::F32(out), Shape::from((b, n, hidden))));
        }
        out.par_chunks_mut(n * hidden)
            .zip(qkv.par_chunks(n * three))
            .zip(self.lengths.par_iter())
            .for_each(|((out, qkv), &len)| {
                let mut scores = vec![0f32; len * len];
                let mut inv_sums = vec![0f32; len];
                for h in 0..heads {
                    self.head(qkv, out, &mut scores, &mut inv_sums, len, h);
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, n, hidden))))
    }
}

impl CpuAttention {
    /// The context, (batch, seq, hidden), from `qkv` (batch, seq, 3 × hidden), f32 on the CPU.
    pub fn apply(&self, qkv: &Tensor) -> Result<Tensor> {
        qkv.apply_op1_no_bwd(self)
    }

    /// One text's head `h`: `qkv` is the text's (seq, 3 × hidden) block, `out` its (seq, hidden) one.
    fn head(
        &self,
        qkv: &[f32],
        out: &mut [f32],
        scores: &mut [f32],
        inv_sums: &mut [f32],
        len: usize,
        h: usize,
    ) {
        let hd = self.head_dim;
        let hidden = self.heads * hd;
        let row = 3 * hidden as isize;
        let (q, k, v) = (h * hd, hidden + h * hd, 2 * hidden + h * hd);
        debug_assert!(qkv.len() >= (len - 1) * 3 * hidden + v + hd);
        debug_assert!(out.len() >= (len - 1) * hidden + q + hd && scores.len() == len * len);
        // SAFETY: every index gemm touches is inside its slice. q, k and v are len rows of hd
        // values with row stride 3 × hidden, starting at columns q, k and v < 3 × hidden − hd + 1
        // of the text's block, which holds seq ≥ len rows (`cpu_fwd` checks the shape and the
        // lengths before it splits the blocks; the debug assertions above restate it); `scores` is len × len, row stride len; the
        // output is len rows of hd values at column q of rows of `hidden`. `scores` and `out`
        // do not overlap each other or `qkv`.
        unsafe {
            // scores = scale · q · kᵀ (kᵀ: hd × len, read as column stride 3 × hidden).
            gemm_into(
                (len, len, hd),
                (scores.as_mut_ptr(), len as isize),
                (qkv.as_ptr().add(q), row, 1),
                (qkv.as_ptr().add(k), 1, row),
                self.scale,
            );
        }
        // Unnormalized probabilities; each output row is divided by its sum afterwards (hd
        // values a row instead of len).
        exp_rows(scores, len, inv_sums);
        // SAFETY: as above; `out` rows have stride `hidden`.
        unsafe {
            gemm_into(
                (len, hd, len),
                (out.as_mut_ptr().add(q), hidden as isize),
                (scores.as_ptr(), len as isize, 1),
                (qkv.as_ptr().add(v), row, 1),
                1.0,
            );
        }
        for (i, inv) in inv_sums.iter().enumerate() {
            for x in &mut out[i * hidden + q..i * hidden + q + hd] {
                *x *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The unfused computation, on the whole padded batch with an additive mask.
    fn reference(qkv: &Tensor, lengths: &[usize], heads: usize, scale: f64) -> Result<Tensor> {
        let (b, n, three) = qkv.dims3()?;
        let hd = three / 3 / heads;
        let part = |i: usize| -> Result<Tensor> {
            qkv.narrow(2, i * heads * hd, heads * hd)?
                .reshape((b, n, heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let mut mask = vec![0f32; b * n];
        for (i, &len) in lengths.iter().enumerate() {
            mask[i * n + len..(i + 1) * n].fill(-1e9);
        }
        let mask = Tensor::from_vec(mask, (b, 1, 1, n), qkv.device())?;
        let scores = ((q.matmul(&k.t()?)? * scale)?).broadcast_add(&mask)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, n, heads * hd))
    }

    #[test]
    fn matches_the_unfused_attention_on_real_rows_and_zeroes_padding() -> Result<()> {
        let (b, n, heads, hd) = (4, 37, 3, 8);
        let qkv = Tensor::randn(0f32, 1f32, (b, n, 3 * heads * hd), &Device::Cpu)?;
        let lengths = vec![37, 1, 20, 36];
        let scale = 1.0 / (hd as f64).sqrt();
        let op = CpuAttention {
            lengths: lengths.clone(),
            heads,
            head_dim: hd,
            scale: scale as f32,
        };
        let got = op.apply(&qkv)?.to_vec3::<f32>()?;
        let want = reference(&qkv, &lengths, heads, scale)?.to_vec3::<f32>()?;
        for (i, &len) in lengths.iter().enumerate() {
            for t in 0..n {
                for c in 0..heads * hd {
                    let (g, w) = (got[i][t][c], want[i][t][c]);
                    if t < len {
                        assert!(
                            (g - w).abs() < 1e-5,
                            "text {i} token {t} col {c}: {g} vs {w}"
                        );
                    } else {
                        assert_eq!(g, 0.0, "padding row {t} of text {i}");
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn bad_lengths_are_errors() {
        let qkv = Tensor::zeros((2, 5, 12), candle_core::DType::F32, &Device::Cpu).unwrap();
        for lengths in [vec![5], vec![0, 5], vec![6, 5]] {
            let op = CpuAttention {
                lengths,
                heads: 2,
                head_dim: 2,
                scale: 1.0,
            };
            assert!(op.apply(&qkv).is_err());
        }
    }
}
