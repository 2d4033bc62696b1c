//! Packed batches — the texts of a batch laid end to end, no padding — and the fused ops the
//! packed BERT forward pass is made of (see `BertEncoder::forward_packed`).
//!
//! Padding costs nothing here: every op works on the T real token rows, and attention only
//! pairs tokens of the same text (the row offsets `cu` say where each text starts), the way
//! text-embeddings-inference runs variable-length attention. Each op has a CPU body below (f32;
//! it is also the reference the CUDA kernels are checked against) and a CUDA kernel in
//! `cuda/kernels.cu` (f32, f16, bf16, computing in f32).

use candle_core::{
    CpuStorage, CustomOp2, CustomOp3, Device, Layout, Result, Shape, Storage, Tensor,
};

use super::fastmath;
use super::pooling::Pooling;

/// A batch of token sequences packed end to end, on a device (one host-to-device copy).
pub struct Packed {
    /// The T token ids followed by the T positions (each token's index within its text), u32.
    pub tokens: Tensor,
    /// Row offsets, (B + 1,) u32: text b is rows `cu[b]..cu[b + 1]`.
    pub cu: Tensor,
    /// Longest text, tokens.
    pub max_len: usize,
}

impl Packed {
    pub fn new(seqs: &[&[u32]], device: &Device) -> Result<Self> {
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let mut buf = Vec::with_capacity(2 * total + seqs.len() + 1);
        for s in seqs {
            buf.extend_from_slice(s);
        }
        for s in seqs {
            buf.extend(0..s.len() as u32);
        }
        buf.push(0u32);
        let mut end = 0u32;
        for s in seqs {
            end += s.len() as u32;
            buf.push(end);
        }
        let max_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let all = Tensor::from_vec(buf, 2 * total + seqs.len() + 1, device)?;
        Ok(Self {
            tokens: all.narrow(0, 0, 2 * total)?,
            cu: all.narrow(0, 2 * total, seqs.len() + 1)?,
            max_len,
        })
    }

    /// Real tokens in the batch.
    pub fn n_tokens(&self) -> usize {
        self.tokens.elem_count() / 2
    }

    pub fn texts(&self) -> usize {
        self.cu.elem_count().saturating_sub(1)
    }
}

/// Activation applied by [`bias_act`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// GELU, erf form (BERT's `gelu`).
    Gelu,
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    Relu,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl Act {
    fn code(self) -> i32 {
        match self {
            Act::Gelu => 0,
            Act::GeluTanh => 1,
            Act::Relu => 2,
        }
    }
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn pool_code(p: Pooling) -> i32 {
    match p {
        Pooling::Mean => 0,
        Pooling::Cls => 1,
        Pooling::Max => 2,
        Pooling::MeanSqrtLen => 3,
    }
}

/// BERT's embedding layer on a packed batch: `LayerNorm(word[id] + position[pos] + type0)` per
/// token. `table` is the word table followed by the position table (from row `pos_offset`);
/// `params` is `[type0 | gamma | beta]` (3n). Returns (T, n).
pub fn embed_layer_norm(
    table: &Tensor,
    packed: &Packed,
    params: &Tensor,
    pos_offset: usize,
    eps: f32,
) -> Result<Tensor> {
    table.apply_op3_no_bwd(&packed.tokens, params, &EmbedLayerNorm { pos_offset, eps })
}

/// `LayerNorm(x + r + bias) * gamma + beta` per row; `params` is `[bias | gamma | beta]` (3n).
pub fn add_layer_norm(x: &Tensor, r: &Tensor, params: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3_no_bwd(&r.contiguous()?, params, &AddLayerNorm { eps })
}

/// `act(x + bias)`, bias broadcast over the rows.
pub fn bias_act(x: &Tensor, bias: &Tensor, act: Act) -> Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(bias, &BiasAct { act })
}

/// Multi-head self-attention within each packed text. `q`, `k`, `v` (T, heads·head_dim) are
/// the projections without bias — three matrices, or three column blocks of one (rows may be
/// further apart than they are wide, but equally so in all three); `bias` (3·heads·head_dim, q
/// then k then v) is added here. Returns (T, heads·head_dim).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    packed: &Packed,
    heads: &Heads,
) -> Result<Tensor> {
    q.apply_op3_no_bwd(
        k,
        v,
        &Attention {
            heads: heads.count,
            scale: heads.scale,
            max_len: packed.max_len,
            bias: bias.clone(),
            cu: packed.cu.clone(),
            tensor_cores: heads.tensor_cores,
        },
    )
}

/// How [`attention`] splits and scales: `count` heads, queries times `scale` (1/√head_dim), and
/// on CUDA in f16/bf16 the tensor-core kernel when `tensor_cores`.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub count: usize,
    pub scale: f32,
    pub tensor_cores: bool,
}

/// One f32 vector per text, (B, n), pooled over its own token rows, scaled to unit length when
/// `normalize`.
pub fn pool(x: &Tensor, packed: &Packed, pooling: Pooling, normalize: bool) -> Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(
        &packed.cu,
        &Pool {
            mode: pooling,
            normalize,
        },
    )
}

/// The f32 data of a row view (see [`row_view`]) from its first element on.
fn f32_rows<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = s else {
        candle_core::bail!("{op}: the CPU path is f32 only")
    };
    let (_, _, _, offset) = row_view(l, op)?;
    Ok(&data[offset..])
}

fn u32s<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [u32]> {
    let CpuStorage::U32(data) = s else {
        candle_core::bail!("{op}: row offsets must be u32")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: contiguous offsets only"),
    }
}

/// (rows, n) of a 2-D layout.
pub(super) fn rows_cols(l: &Layout, op: &str) -> Result<(usize, usize)> {
    match l.dims() {
        [r, n] => Ok((*r, *n)),
        d => candle_core::bail!("{op}: expected a matrix, got shape {d:?}"),
    }
}

/// `o = LayerNorm(o) * gamma + beta` in place (the CPU bodies' shared tail).
fn layer_norm_row(o: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = o.len() as f32;
    let mean = lane_sum(o, |v| v) / n;
    let var = lane_sum(o, |v| (v - mean) * (v - mean)) / n;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in o.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * rstd * g + b;
    }
}

/// The sum of `f(v)` over `xs`, in 16 separate accumulators so that the loop vectorizes (one
/// accumulator forces the additions into strict order).
#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for i in 0..16 {
            lanes[i] += f(c[i]);
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
}

pub(super) struct EmbedLayerNorm {
    pub pos_offset: usize,
    pub eps: f32,
}

impl CustomOp3 for EmbedLayerNorm {
    fn name(&self) -> &'static str {
        "newsclust-embed-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (table_rows, n) = rows_cols(l1, self.name())?;
        let (table, idx, p) = (
            fastmath::contiguous_f32(s1, l1, self.name())?,
            u32s(s2, l2, self.name())?,
            fastmath::contiguous_f32(s3, l3, self.name())?,
        );
        if idx.len() % 2 != 0 || p.len() != 3 * n {
            candle_core::bail!("{}: shapes do not match", self.name());
        }
        let t = idx.len() / 2;
        let (ids, positions) = idx.split_at(t);
        let mut out = vec![0f32; t * n];
        for ((o, &id), &pos) in out.chunks_exact_mut(n).zip(ids).zip(positions) {
            let (w, q) = (id as usize, self.pos_offset + pos as usize);
            if w >= self.pos_offset || q >= table_rows {
                candle_core::bail!(
                    "{}: token id {id} or position {pos} out of range",
                    self.name()
                );
            }
            let (wr, pr) = (&table[w * n..(w + 1) * n], &table[q * n..(q + 1) * n]);
            for c in 0..n {
                o[c] = wr[c] + pr[c] + p[c];
            }
            layer_norm_row(o, &p[n..2 * n], &p[2 * n..], self.eps);
        }
        Ok((CpuStorage::F32(out), Shape::from((t, n))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::embed_layer_norm(self, s1, l1, s2, l2, s3, l3)
    }
}

pub(super) struct AddLayerNorm {
    pub eps: f32,
}

impl CustomOp3 for AddLayerNorm {
    fn name(&self) -> &'static str {
        "newsclust-add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, n) = rows_cols(l1, self.name())?;
        let (x, r, p) = (
            fastmath::contiguous_f32(s1, l1, self.name())?,
            fastmath::contiguous_f32(s2, l2, self.name())?,
            fastmath::contiguous_f32(s3, l3, self.name())?,
        );
        if r.len() != x.len() || p.len() != 3 * n {
            candle_core::bail!("{}: shapes do not match", self.name());
        }
        let (bias, gamma, beta) = (&p[..n], &p[n..2 * n], &p[2 * n..]);
        let mut out = vec![0f32; rows * n];
        for ((o, xr), rr) in out
            .chunks_exact_mut(n)
            .zip(x.chunks_exact(n))
            .zip(r.chunks_exact(n))
        {
            for c in 0..n {
                o[c] = xr[c] + rr[c] + bias[c];
            }
            layer_norm_row(o, gamma, beta, self.eps);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::add_layer_norm(self, s1, l1, s2, l2, s3, l3)
    }
}

pub(super) struct BiasAct {
    pub act: Act,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl BiasAct {
    pub fn code(&self) -> i32 {
        self.act.code()
    }
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "newsclust-bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, n) = rows_cols(l1, self.name())?;
        let (x, b) = (
            fastmath::contiguous_f32(s1, l1, self.name())?,
            fastmath::contiguous_f32(s2, l2, self.name())?,
        );
        if b.len() != n {
            candle_core::bail!(
                "{}: bias has {} values for {n} columns",
                self.name(),
                b.len()
            );
        }
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(n) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
        match self.act {
            Act::Gelu => fastmath::gelu_slice(&mut out),
            Act::GeluTanh => {
                for v in out.iter_mut() {
                    let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                    *v = 0.5 * *v * (1.0 + u.tanh());
                }
            }
            Act::Relu => out.iter_mut().for_each(|v| *v = v.max(0.0)),
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::bias_act(self, s1, l1, s2, l2)
    }
}

pub(super) struct Attention {
    pub heads: usize,
    pub scale: f32,
    /// Longest text (sizes the CUDA grid).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub max_len: usize,
    pub bias: Tensor,
    pub cu: Tensor,
    /// On CUDA in f16/bf16: the tensor-core kernel (attention_tc.cuh) instead of the one that
    /// computes with the CUDA cores. The CPU body ignores it.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub tensor_cores: bool,
}

/// Rows of a (rows, width) matrix whose rows may be `ld` ≥ width apart: (rows, width, ld, offset).
pub(super) fn row_view(l: &Layout, op: &str) -> Result<(usize, usize, usize, usize)> {
    match (l.dims(), l.stride()) {
        ([r, w], [ld, 1]) if *ld >= *w => Ok((*r, *w, *ld, l.start_offset())),
        ([r, w], _) if *r <= 1 => Ok((*r, *w, *w, l.start_offset())),
        (d, st) => {
            candle_core::bail!("{op}: rows of a matrix expected, got shape {d:?} stride {st:?}")
        }
    }
}

impl Attention {
    /// Checks q/k/v agree; returns (rows, width, ld, head size).
    pub(super) fn shape(
        &self,
        l1: &Layout,
        l2: &Layout,
        l3: &Layout,
    ) -> Result<(usize, usize, usize, usize)> {
        let name = "newsclust-packed-attention";
        let (t, hd, ld, _) = row_view(l1, name)?;
        for l in [l2, l3] {
            let (t2, hd2, ld2, _) = row_view(l, name)?;
            if (t2, hd2, ld2) != (t, hd, ld) {
                candle_core::bail!("{name}: q, k and v differ in shape");
            }
        }
        if self.heads == 0 || hd % self.heads != 0 || self.bias.elem_count() != 3 * hd {
            candle_core::bail!("{name}: width {hd} does not fit {} heads", self.heads);
        }
        Ok((t, hd, ld, hd / self.heads))
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "newsclust-packed-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (t, hd, ld, d) = self.shape(l1, l2, l3)?;
        let (q, k, v) = (
            f32_rows(s1, l1, name)?,
            f32_rows(s2, l2, name)?,
            f32_rows(s3, l3, name)?,
        );
        let (bias_storage, bias_layout) = self.bias.storage_and_layout();
        let (cu_storage, cu_layout) = self.cu.storage_and_layout();
        let (Storage::Cpu(bias_storage), Storage::Cpu(cu_storage)) = (&*bias_storage, &*cu_storage)
        else {
            candle_core::bail!("{name}: bias and offsets must be on the CPU too");
        };
        let bias = fastmath::contiguous_f32(bias_storage, bias_layout, name)?;
        let cu = u32s(cu_storage, cu_layout, name)?;
        if cu.last().map(|&e| e as usize) != Some(t) || (t > 0 && q.len() < (t - 1) * ld + hd) {
            candle_core::bail!("{name}: offsets do not cover {t} rows");
        }
        let mut out = vec![0f32; t * hd];
        let mut scores = Vec::new();
        let (mut qr, mut ks, mut vs) = (vec![0f32; d], Vec::new(), Vec::new());
        for win in cu.windows(2) {
            let (start, end) = (win[0] as usize, win[1] as usize);
            let len = end - start;
            for h in 0..self.heads {
                // This head's keys and values for the text, bias added.
                ks.clear();
                vs.clear();
                for row in start..end {
                    for c in h * d..(h + 1) * d {
                        ks.push(k[row * ld + c] + bias[hd + c]);
                        vs.push(v[row * ld + c] + bias[2 * hd + c]);
                    }
                }
                for i in start..end {
                    for (c, x) in qr.iter_mut().enumerate() {
                        *x = (q[i * ld + h * d + c] + bias[h * d + c]) * self.scale;
                    }
                    scores.clear();
                    scores.extend(
                        ks.chunks_exact(d)
                            .map(|kr| kr.iter().zip(&qr).map(|(a, b)| a * b).sum::<f32>()),
                    );
                    fastmath::softmax_rows(&mut scores, len);
                    let o = &mut out[i * hd + h * d..i * hd + (h + 1) * d];
                    for (p, vr) in scores.iter().zip(vs.chunks_exact(d)) {
                        for c in 0..d {
                            o[c] += p * vr[c];
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((t, hd))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::attention(self, s1, l1, s2, l2, s3, l3)
    }
}

pub(super) struct Pool {
    pub mode: Pooling,
    pub normalize: bool,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl Pool {
    pub fn code(&self) -> i32 {
        pool_code(self.mode)
    }
}

impl CustomOp2 for Pool {
    fn name(&self) -> &'static str {
        "newsclust-packed-pool"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, n) = rows_cols(l1, self.name())?;
        let (x, cu) = (
            fastmath::contiguous_f32(s1, l1, self.name())?,
            u32s(s2, l2, self.name())?,
        );
        let b = cu.len().saturating_sub(1);
        let mut out = vec![0f32; b * n];
        for (o, win) in out.chunks_exact_mut(n).zip(cu.windows(2)) {
            let rows = x[win[0] as usize * n..win[1] as usize * n].chunks_exact(n);
            let len = rows.len();
            match self.mode {
                _ if len == 0 => {}
                Pooling::Cls => o.copy_from_slice(&x[win[0] as usize * n..][..n]),
                Pooling::Max => {
                    o.fill(f32::NEG_INFINITY);
                    for r in rows {
                        for (a, v) in o.iter_mut().zip(r) {
                            *a = a.max(*v);
                        }
                    }
                }
                Pooling::Mean | Pooling::MeanSqrtLen => {
                    for r in rows {
                        for (a, v) in o.iter_mut().zip(r) {
                            *a += v;
                        }
                    }
                    let denom = (len.max(1)) as f32;
                    let denom = if self.mode == Pooling::MeanSqrtLen {
                        denom.sqrt()
                    } else {
                        denom
                    };
                    o.iter_mut().for_each(|a| *a /= denom);
                }
            }
            if self.normalize {
                let norm = o.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                o.iter_mut().for_each(|v| *v /= norm);
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, n))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        super::cuda::pool(self, s1, l1, s2, l2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    fn packed(lengths: &[usize]) -> Result<Packed> {
        let seqs: Vec<Vec<u32>> = lengths.iter().map(|&n| vec![1u32; n]).collect();
        let refs: Vec<&[u32]> = seqs.iter().map(|s| s.as_slice()).collect();
        Packed::new(&refs, &Device::Cpu)
    }

    #[test]
    fn packing_lays_texts_end_to_end() -> Result<()> {
        let p = Packed::new(&[&[5, 6, 7], &[], &[8]], &Device::Cpu)?;
        assert_eq!(p.tokens.to_vec1::<u32>()?, vec![5, 6, 7, 8, 0, 1, 2, 0]);
        assert_eq!(p.cu.to_vec1::<u32>()?, vec![0, 3, 3, 4]);
        assert_eq!((p.n_tokens(), p.texts(), p.max_len), (4, 3, 3));
        Ok(())
    }

    /// Attention of each text over its own tokens only, in f64, straight from the definition.
    fn naive_attention(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        bias: &[f32],
        cu: &[u32],
        heads: usize,
        hd: usize,
    ) -> Vec<f64> {
        let d = hd / heads;
        let scale = 1.0 / (d as f64).sqrt();
        let mut out = vec![0f64; q.len()];
        for w in cu.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            for h in 0..heads {
                for i in a..b {
                    let cols = h * d..(h + 1) * d;
                    let s: Vec<f64> = (a..b)
                        .map(|j| {
                            cols.clone()
                                .map(|c| {
                                    (q[i * hd + c] + bias[c]) as f64
                                        * (k[j * hd + c] + bias[hd + c]) as f64
                                        * scale
                                })
                                .sum()
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                    for c in cols {
                        out[i * hd + c] = (a..b)
                            .map(|j| {
                                (s[j - a] - m).exp() / z * (v[j * hd + c] + bias[2 * hd + c]) as f64
                            })
                            .sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn attention_stays_within_each_text() -> Result<()> {
        let (heads, hd) = (2, 8);
        let p = packed(&[3, 1, 5])?;
        let t = p.n_tokens();
        let (q, k, v, bias) = (
            rand(t * hd, 1),
            rand(t * hd, 2),
            rand(t * hd, 3),
            rand(3 * hd, 4),
        );
        let want = naive_attention(&q, &k, &v, &bias, &p.cu.to_vec1()?, heads, hd);
        let dev = Device::Cpu;
        let tensor = |x: &[f32]| Tensor::from_slice(x, (t, hd), &dev);
        let bias_t = Tensor::from_slice(&bias, 3 * hd, &dev)?;
        let scale = 1.0 / (hd as f32 / heads as f32).sqrt();
        let split = attention(
            &tensor(&q)?,
            &tensor(&k)?,
            &tensor(&v)?,
            &bias_t,
            &p,
            &Heads {
                count: heads,
                scale,
                tensor_cores: false,
            },
        )?;
        // The same from column blocks of one (t, 3·hd) matrix: rows 3·hd apart.
        let qkv = Tensor::cat(&[tensor(&q)?, tensor(&k)?, tensor(&v)?], 1)?;
        let blocks = attention(
            &qkv.narrow(1, 0, hd)?,
            &qkv.narrow(1, hd, hd)?,
            &qkv.narrow(1, 2 * hd, hd)?,
            &bias_t,
            &p,
            &Heads {
                count: heads,
                scale,
                tensor_cores: true,
            },
        )?;
        for got in [split, blocks] {
            let got = got.flatten_all()?.to_vec1::<f32>()?;
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (*g as f64 - w).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-5, "max error {worst}");
        }
        Ok(())
    }

    #[test]
    fn layer_norms_and_pooling_follow_their_definitions() -> Result<()> {
        let dev = Device::Cpu;
        let n = 4;
        let p = packed(&[2, 1])?;
        // The embedding table: 3 word rows, then 2 position rows.
        let table: Vec<f32> = rand(5 * n, 7);
        let ids = Packed::new(&[&[2, 0], &[1]], &dev)?;
        let params = rand(3 * n, 8);
        let table_t = Tensor::from_slice(&table, (5, n), &dev)?;
        let params_t = Tensor::from_slice(&params, 3 * n, &dev)?;
        let emb = embed_layer_norm(&table_t, &ids, &params_t, 3, 1e-5)?.to_vec2::<f32>()?;
        // Token 0 of text 0: word 2 + position 0 (table row 3) + params[..n], normalized.
        let row: Vec<f32> = (0..n)
            .map(|c| table[2 * n + c] + table[3 * n + c] + params[c])
            .collect();
        let mean = row.iter().sum::<f32>() / n as f32;
        let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n as f32;
        for c in 0..n {
            let want = (row[c] - mean) / (var + 1e-5).sqrt() * params[n + c] + params[2 * n + c];
            assert!((emb[0][c] - want).abs() < 1e-5);
        }
        // An id that is not a word row is an error, not a read of the position rows.
        let bad = Packed::new(&[&[3]], &dev)?;
        assert!(embed_layer_norm(&table_t, &bad, &params_t, 3, 1e-5).is_err());

        let x = Tensor::from_slice(
            &[1f32, 2., 3., 4., 3., 6., 9., 12., -1., 0., 0., 0.],
            (3, n),
            &dev,
        )?;
        let mean = pool(&x, &p, Pooling::Mean, false)?.to_vec2::<f32>()?;
        assert_eq!(mean, vec![vec![2., 4., 6., 8.], vec![-1., 0., 0., 0.]]);
        let max = pool(&x, &p, Pooling::Max, false)?.to_vec2::<f32>()?;
        assert_eq!(max[0], vec![3., 6., 9., 12.]);
        let cls = pool(&x, &p, Pooling::Cls, true)?.to_vec2::<f32>()?;
        let norm = (1f32 + 4. + 9. + 16.).sqrt();
        assert!((cls[0][3] - 4. / norm).abs() < 1e-6);
        let sqrt_len = pool(&x, &p, Pooling::MeanSqrtLen, false)?.to_vec2::<f32>()?;
        assert!((sqrt_len[0][0] - 4. / 2f32.sqrt()).abs() < 1e-6);

        let gelu = bias_act(
            &x,
            &Tensor::zeros(n, candle_core::DType::F32, &dev)?,
            Act::Relu,
        )?;
        assert_eq!(gelu.to_vec2::<f32>()?[2], vec![0., 0., 0., 0.]);
        Ok(())
    }
}
