//! A BERT encoder written on candle's tensor ops, for sentence-transformer models.
//!
//! Written here rather than using `candle_transformers::models::bert::BertModel` because that one
//! returns NaN in f16/bf16 (its mask bias is -inf; see ../shared/gpu/README.md) and because owning
//! the forward pass lets us fuse Q/K/V into one matmul and use candle's fused softmax and layer norm.
//! The maths follows the original BERT (Devlin et al. 2019) / Hugging Face `BertModel` layout.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use super::config::BertConfig;
use super::fastmath;

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        // Some checkpoints name the parameters gamma/beta.
        let weight = vb.get(size, "weight").or_else(|_| vb.get(size, "gamma"))?;
        let bias = vb.get(size, "bias").or_else(|_| vb.get(size, "beta"))?;
        Ok(Self {
            weight,
            bias,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps)
    }
}

fn linear(vb: VarBuilder, inp: usize, out: usize) -> candle_core::Result<Linear> {
    candle_nn::linear(inp, out, vb)
}

#[derive(Clone, Copy)]
enum Act {
    Gelu,
    GeluTanh,
    Relu,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

/// BERT embeddings + encoder layers (no pooler: sentence-transformers pools itself).
pub struct BertEncoder {
    word: Embedding,
    position: Embedding,
    token_type: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: Act,
    dtype: DType,
}

impl BertEncoder {
    /// Loads weights named like Hugging Face's `BertModel` (optionally under a `bert.` prefix).
    pub fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = cfg.hidden_size;
        let e = vb.pp("embeddings");
        let word = candle_nn::embedding(cfg.vocab_size, h, e.pp("word_embeddings"))?;
        let position =
            candle_nn::embedding(cfg.max_position_embeddings, h, e.pp("position_embeddings"))?;
        // Single-sentence inputs always have token type 0.
        let token_type = e
            .pp("token_type_embeddings")
            .get((cfg.type_vocab_size, h), "weight")?
            .get(0)?;
        let embed_norm = LayerNorm::load(e.pp("LayerNorm"), h, cfg.layer_norm_eps)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let s = a.pp("self");
            let q = linear(s.pp("query"), h, h)?;
            let k = linear(s.pp("key"), h, h)?;
            let v = linear(s.pp("value"), h, h)?;
            let qkv_w = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
            let qkv_b = match (q.bias(), k.bias(), v.bias()) {
                (Some(qb), Some(kb), Some(vb)) => Some(Tensor::cat(&[qb, kb, vb], 0)?),
                _ => None,
            };
            layers.push(Layer {
                qkv: Linear::new(qkv_w, qkv_b),
                attn_out: linear(a.pp("output.dense"), h, h)?,
                attn_norm: LayerNorm::load(a.pp("output.LayerNorm"), h, cfg.layer_norm_eps)?,
                up: linear(l.pp("intermediate.dense"), h, cfg.intermediate_size)?,
                down: linear(l.pp("output.dense"), cfg.intermediate_size, h)?,
                out_norm: LayerNorm::load(l.pp("output.LayerNorm"), h, cfg.layer_norm_eps)?,
            });
        }
        let act = match cfg.hidden_act.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => Act::GeluTanh,
            "relu" => Act::Relu,
            _ => Act::Gelu,
        };
        Ok(Self {
            word,
            position,
            token_type,
            embed_norm,
            layers,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            act,
            dtype: vb.dtype(),
        })
    }

    pub fn device(&self) -> &Device {
        self.token_type.device()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// `ids` (batch, seq) u32; `mask` (batch, seq) in the model dtype, 1 for real tokens.
    /// Returns the last hidden states (batch, seq, hidden).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let positions = Tensor::arange(0u32, n as u32, ids.device())?;
        let x = self
            .word
            .forward(ids)?
            .broadcast_add(&self.position.forward(&positions)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.embed_norm.forward(&x)?;
        // Additive attention bias: 0 for real tokens, a large finite negative for padding
        // (finite so that f16/bf16 never produce 0 * inf = NaN).
        let bias = ((mask.ones_like()? - mask)? * -1e4)?.reshape((b, 1, 1, n))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        for layer in &self.layers {
            x = self.layer(layer, &x, &bias, scale, b, n)?;
        }
        Ok(x)
    }

    fn layer(
        &self,
        l: &Layer,
        x: &Tensor,
        bias: &Tensor,
        scale: f64,
        b: usize,
        n: usize,
    ) -> candle_core::Result<Tensor> {
        let (h, hd) = (self.heads, self.head_dim);
        let qkv = l.qkv.forward(x)?.reshape((b, n, 3, h, hd))?;
        // (batch, heads, seq, head_dim) for each of q, k, v.
        let q = (qkv
            .narrow(2, 0, 1)?
            .squeeze(2)?
            .transpose(1, 2)?
            .contiguous()?
            * scale)?;
        let k = qkv
            .narrow(2, 1, 1)?
            .squeeze(2)?
            .transpose(1, 2)?
            .contiguous()?;
        let v = qkv
            .narrow(2, 2, 1)?
            .squeeze(2)?
            .transpose(1, 2)?
            .contiguous()?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let probs = fastmath::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, h * hd))?;
        let x = l.attn_norm.forward(&(l.attn_out.forward(&ctx)? + x)?)?;
        let up = l.up.forward(&x)?;
        let up = match self.act {
            Act::Gelu => fastmath::gelu_erf(&up)?,
            Act::GeluTanh => up.gelu()?,
            Act::Relu => up.relu()?,
        };
        l.out_norm.forward(&(l.down.forward(&up)? + &x)?)
    }
}
