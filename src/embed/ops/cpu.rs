//! The packed ops' CPU bodies, in f32: the CPU's packed pass, and the reference the CUDA kernels
//! are checked against.

use candle_core::{CpuStorage, Layout, Result, Shape, Storage};

use super::defs::{
    row_view, rows_cols, Act, AddLayerNorm, Attention, BiasAct, EmbedLayerNorm, Pool,
};
use crate::embed::fastmath;
use crate::embed::pooling::Pooling;

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

/// The CPU body of [`EmbedLayerNorm`].
pub(super) fn embed_layer_norm(
    op: &EmbedLayerNorm,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    const NAME: &str = EmbedLayerNorm::NAME;
    let (table_rows, n) = rows_cols(l1, NAME)?;
    let (table, idx, p) = (
        fastmath::contiguous_f32(s1, l1, NAME)?,
        u32s(s2, l2, NAME)?,
        fastmath::contiguous_f32(s3, l3, NAME)?,
    );
    if idx.len() % 2 != 0 || p.len() != 3 * n {
        candle_core::bail!("{}: shapes do not match", NAME);
    }
    let t = idx.len() / 2;
    let (ids, positions) = idx.split_at(t);
    let mut out = vec![0f32; t * n];
    for ((o, &id), &pos) in out.chunks_exact_mut(n).zip(ids).zip(positions) {
        let (w, q) = (id as usize, op.pos_offset + pos as usize);
        if w >= op.pos_offset || q >= table_rows {
            candle_core::bail!("{}: token id {id} or position {pos} out of range", NAME);
        }
        let (wr, pr) = (&table[w * n..(w + 1) * n], &table[q * n..(q + 1) * n]);
        for c in 0..n {
            o[c] = wr[c] + pr[c] + p[c];
        }
        layer_norm_row(o, &p[n..2 * n], &p[2 * n..], op.eps);
    }
    Ok((CpuStorage::F32(out), Shape::from((t, n))))
}

/// The CPU body of [`AddLayerNorm`].
pub(super) fn add_layer_norm(
    op: &AddLayerNorm,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    const NAME: &str = AddLayerNorm::NAME;
    let (rows, n) = rows_cols(l1, NAME)?;
    let (x, r, p) = (
        fastmath::contiguous_f32(s1, l1, NAME)?,
        fastmath::contiguous_f32(s2, l2, NAME)?,
        fastmath::contiguous_f32(s3, l3, NAME)?,
    );
    if r.len() != x.len() || p.len() != 3 * n {
        candle_core::bail!("{}: shapes do not match", NAME);
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
        layer_norm_row(o, gamma, beta, op.eps);
    }
    Ok((CpuStorage::F32(out), l1.shape().clone()))
}

/// The CPU body of [`BiasAct`].
pub(super) fn bias_act(
    op: &BiasAct,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    const NAME: &str = BiasAct::NAME;
    let (_, n) = rows_cols(l1, NAME)?;
    let (x, b) = (
        fastmath::contiguous_f32(s1, l1, NAME)?,
        fastmath::contiguous_f32(s2, l2, NAME)?,
    );
    if b.len() != n {
        candle_core::bail!("{}: bias has {} values for {n} columns", NAME, b.len());
    }
    let mut out = x.to_vec();
    for row in out.chunks_exact_mut(n) {
        for (v, b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    match op.act {
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

/// The CPU body of [`Attention`].
pub(super) fn attention(
    op: &Attention,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    s3: &CpuStorage,
    l3: &Layout,
) -> Result<(CpuStorage, Shape)> {
    const NAME: &str = Attention::NAME;
    let name = NAME;
    let (t, hd, ld, d) = op.shape(l1, l2, l3)?;
    let (q, k, v) = (
        f32_rows(s1, l1, name)?,
        f32_rows(s2, l2, name)?,
        f32_rows(s3, l3, name)?,
    );
    let (bias_storage, bias_layout) = op.bias.storage_and_layout();
    let (cu_storage, cu_layout) = op.cu.storage_and_layout();
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
        for h in 0..op.heads {
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
                    *x = (q[i * ld + h * d + c] + bias[h * d + c]) * op.scale;
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

/// The CPU body of [`Pool`].
pub(super) fn pool(
    op: &Pool,
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
) -> Result<(CpuStorage, Shape)> {
    const NAME: &str = Pool::NAME;
    let (_, n) = rows_cols(l1, NAME)?;
    let (x, cu) = (fastmath::contiguous_f32(s1, l1, NAME)?, u32s(s2, l2, NAME)?);
    let b = cu.len().saturating_sub(1);
    let mut out = vec![0f32; b * n];
    for (o, win) in out.chunks_exact_mut(n).zip(cu.windows(2)) {
        let rows = x[win[0] as usize * n..win[1] as usize * n].chunks_exact(n);
        let len = rows.len();
        match op.mode {
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
                let denom = if op.mode == Pooling::MeanSqrtLen {
                    denom.sqrt()
                } else {
                    denom
                };
                o.iter_mut().for_each(|a| *a /= denom);
            }
        }
        if op.normalize {
            let norm = o.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            o.iter_mut().for_each(|v| *v /= norm);
        }
    }
    Ok((CpuStorage::F32(out), Shape::from((b, n))))
}
