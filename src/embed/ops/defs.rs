//! The packed ops' inputs: packed batches, and each op's settings (what its CPU body and its
//! CUDA launch both read).

use candle_core::{Device, Layout, Result, Tensor};

use crate::embed::pooling::Pooling;

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

/// Activation applied by `cpu::bias_act`.
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
    pub(crate) fn code(self) -> i32 {
        match self {
            Act::Gelu => 0,
            Act::GeluTanh => 1,
            Act::Relu => 2,
        }
    }
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn pool_code(p: Pooling) -> i32 {
    match p {
        Pooling::Mean => 0,
        Pooling::Cls => 1,
        Pooling::Max => 2,
        Pooling::MeanSqrtLen => 3,
    }
}

/// How [`super::attention`] splits and scales: `count` heads, queries times `scale`
/// (1/√head_dim), and on CUDA in f16/bf16 the tensor-core kernel when `tensor_cores`.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub count: usize,
    pub scale: f32,
    pub tensor_cores: bool,
}

/// (rows, n) of a 2-D layout.
pub(crate) fn rows_cols(l: &Layout, op: &str) -> Result<(usize, usize)> {
    match l.dims() {
        [r, n] => Ok((*r, *n)),
        d => candle_core::bail!("{op}: expected a matrix, got shape {d:?}"),
    }
}

pub(crate) struct EmbedLayerNorm {
    pub pos_offset: usize,
    pub eps: f32,
}

impl EmbedLayerNorm {
    pub(super) const NAME: &'static str = "newsclust-embed-layer-norm";
}

pub(crate) struct AddLayerNorm {
    pub eps: f32,
}

impl AddLayerNorm {
    pub(super) const NAME: &'static str = "newsclust-add-layer-norm";
}

pub(crate) struct BiasAct {
    pub act: Act,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl BiasAct {
    pub fn code(&self) -> i32 {
        self.act.code()
    }
}

impl BiasAct {
    pub(super) const NAME: &'static str = "newsclust-bias-act";
}

pub(crate) struct Attention {
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
pub(crate) fn row_view(l: &Layout, op: &str) -> Result<(usize, usize, usize, usize)> {
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
    pub(crate) fn shape(
        &self,
        l1: &Layout,
        l2: &Layout,
        l3: &Layout,
    ) -> Result<(usize, usize, usize, usize)> {
        let name = Self::NAME;
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

impl Attention {
    pub(super) const NAME: &'static str = "newsclust-packed-attention";
}

pub(crate) struct Pool {
    pub mode: Pooling,
    pub normalize: bool,
}

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
impl Pool {
    pub fn code(&self) -> i32 {
        pool_code(self.mode)
    }
}

impl Pool {
    pub(super) const NAME: &'static str = "newsclust-packed-pool";
}
