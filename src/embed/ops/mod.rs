//! Packed batches — the texts of a batch laid end to end, no padding — and the fused ops the
//! packed BERT forward pass is made of (see `BertEncoder::forward_packed`).
//!
//! Padding costs nothing here: every op works on the T real token rows, and attention only
//! pairs tokens of the same text (the row offsets `cu` say where each text starts), the way
//! text-embeddings-inference runs variable-length attention. Each op has a CPU body (`cpu.rs`,
//! f32; also the reference the CUDA kernels are checked against) and a CUDA launch (`cuda.rs`,
//! the kernels in `embed/cuda/kernels.cu`: f32, f16, bf16, computing in f32), side by side; both
//! read the op's settings from `defs.rs`.

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod defs;
#[cfg(test)]
mod tests;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use crate::embed::pooling::Pooling;
pub use defs::{Act, Heads, Packed};
use defs::{AddLayerNorm, Attention, BiasAct, EmbedLayerNorm, Pool};

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

impl CustomOp3 for EmbedLayerNorm {
    fn name(&self) -> &'static str {
        Self::NAME
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
        cpu::embed_layer_norm(self, s1, l1, s2, l2, s3, l3)
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
        cuda::embed_layer_norm(self, s1, l1, s2, l2, s3, l3)
    }
}

impl CustomOp3 for AddLayerNorm {
    fn name(&self) -> &'static str {
        Self::NAME
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
        cpu::add_layer_norm(self, s1, l1, s2, l2, s3, l3)
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
        cuda::add_layer_norm(self, s1, l1, s2, l2, s3, l3)
    }
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu::bias_act(self, s1, l1, s2, l2)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        cuda::bias_act(self, s1, l1, s2, l2)
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        Self::NAME
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
        cpu::attention(self, s1, l1, s2, l2, s3, l3)
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
        cuda::attention(self, s1, l1, s2, l2, s3, l3)
    }
}

impl CustomOp2 for Pool {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu::pool(self, s1, l1, s2, l2)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        cuda::pool(self, s1, l1, s2, l2)
    }
}
