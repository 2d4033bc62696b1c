//! A BERT encoder written on candle's tensor ops, for sentence-transformer models.
//!
//! Written here rather than using `candle_transformers::models::bert::BertModel` because that one
//! returns NaN in f16/bf16 (its mask bias is -inf; see ../shared/gpu/README.md) and because owning
//! the forward pass lets us shape it: two passes over the same weights, `forward` on padded
//! batches (Q/K/V in one matmul; the CPU default) and `forward_packed` on packed ones (our fused
//! ops of `packed.rs`; the CUDA default).
//! The maths follows the original BERT (Devlin et al. 2019) / Hugging Face `BertModel` layout.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use super::attention_cpu::CpuAttention;
use super::config::BertConfig;
use super::fastmath;
use super::mapped::MappedRows;
use super::ops::{self, Act, Packed};
use super::profile::{stage, Profile};

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

/// The bias of `lin`, or zeros when it has none.
fn bias_of(lin: &Linear, n: usize) -> candle_core::Result<Tensor> {
    match lin.bias() {
        Some(b) => Ok(b.clone()),
        None => Tensor::zeros(n, lin.weight().dtype(), lin.weight().device()),
    }
}

/// `[bias | gamma | beta]`, the parameter layout of [`ops::add_layer_norm`].
fn ln_params(bias: &Tensor, norm: &LayerNorm) -> candle_core::Result<Tensor> {
    Tensor::cat(&[bias, &norm.weight, &norm.bias], 0)
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
    // The same weights laid out for the packed path: q, k, v weights as loaded.
    q_k_v: [Tensor; 3],
    qkv_bias: Tensor,
    attn_params: Tensor,
    up_bias: Tensor,
    out_params: Tensor,
}

/// The word-embedding table: loaded, or read row by row from the mapped weights file.
enum Words {
    Loaded(Embedding),
    Mapped(MappedRows),
}

impl Words {
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Loaded(e) => e.forward(ids),
            Self::Mapped(m) => m.gather(ids),
        }
    }

    fn table(&self) -> candle_core::Result<Tensor> {
        match self {
            Self::Loaded(e) => Ok(e.embeddings().clone()),
            Self::Mapped(m) => m.load(),
        }
    }
}

/// The names the word table goes by in a checkpoint.
pub const WORD_TABLE: [&str; 2] = [
    "embeddings.word_embeddings.weight",
    "bert.embeddings.word_embeddings.weight",
];

/// BERT embeddings + encoder layers (no pooler: sentence-transformers pools itself).
pub struct BertEncoder {
    word: Words,
    position: Embedding,
    /// Word rows then position rows, for the packed pass (`word` and `position` are then views
    /// into it); built by [`Self::prepare_packed`], so a padded-only encoder does not copy the
    /// word table.
    table: Option<Tensor>,
    vocab: usize,
    token_type: Tensor,
    embed_norm: LayerNorm,
    /// `[token type 0 | gamma | beta]` of the embedding layer norm, for the packed path.
    embed_params: Tensor,
    eps: f32,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: Act,
    dtype: DType,
    /// Packed attention on tensor cores (CUDA, f16/bf16; see `SentenceEncoder::set_attention`).
    tensor_cores: bool,
}

impl BertEncoder {
    /// Loads weights named like Hugging Face's `BertModel` (optionally under a `bert.` prefix).
    /// `mapped`: the word table read from the mapped file instead (CPU, f32), when its shape is
    /// the configuration's.
    pub fn load(
        vb: VarBuilder,
        cfg: &BertConfig,
        mapped: Option<MappedRows>,
    ) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let h = cfg.hidden_size;
        let e = vb.pp("embeddings");
        let word = match mapped {
            Some(m) if m.rows() == cfg.vocab_size && m.dim() == h && vb.device().is_cpu() => {
                Words::Mapped(m)
            }
            _ => Words::Loaded(Embedding::new(
                e.pp("word_embeddings").get((cfg.vocab_size, h), "weight")?,
                h,
            )),
        };
        let position = Embedding::new(
            e.pp("position_embeddings")
                .get((cfg.max_position_embeddings, h), "weight")?,
            h,
        );
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
            let qkv = Linear::new(qkv_w, qkv_b);
            let q_k_v = [q.weight().clone(), k.weight().clone(), v.weight().clone()];
            let attn_out = linear(a.pp("output.dense"), h, h)?;
            let attn_norm = LayerNorm::load(a.pp("output.LayerNorm"), h, cfg.layer_norm_eps)?;
            let up = linear(l.pp("intermediate.dense"), h, cfg.intermediate_size)?;
            let down = linear(l.pp("output.dense"), cfg.intermediate_size, h)?;
            let out_norm = LayerNorm::load(l.pp("output.LayerNorm"), h, cfg.layer_norm_eps)?;
            layers.push(Layer {
                q_k_v,
                qkv_bias: bias_of(&qkv, 3 * h)?,
                attn_params: ln_params(&bias_of(&attn_out, h)?, &attn_norm)?,
                up_bias: bias_of(&up, cfg.intermediate_size)?,
                out_params: ln_params(&bias_of(&down, h)?, &out_norm)?,
                qkv,
                attn_out,
                attn_norm,
                up,
                down,
                out_norm,
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
            table: None,
            vocab: cfg.vocab_size,
            embed_params: ln_params(&token_type, &embed_norm)?,
            eps: cfg.layer_norm_eps as f32,
            token_type,
            embed_norm,
            layers,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
            act,
            dtype: vb.dtype(),
            tensor_cores: false,
        })
    }

    pub fn device(&self) -> &Device {
        self.token_type.device()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn set_tensor_cores(&mut self, on: bool) {
        self.tensor_cores = on;
    }

    pub fn tensor_cores(&self) -> bool {
        self.tensor_cores
    }

    /// Whether [`Self::forward_packed`] can run this model on `device`: the CPU always; CUDA
    /// when the kernels cover the shapes (head size 32 or 64, hidden size ≤ 1024, an even
    /// intermediate size).
    pub fn packed_supported(&self) -> bool {
        let intermediate = self.layers.first().map_or(0, |l| l.up_bias.elem_count());
        self.device().is_cpu()
            || ((self.head_dim == 32 || self.head_dim == 64)
                && self.heads * self.head_dim <= 1024
                && intermediate % 2 == 0)
    }

    /// Lays the word and position rows end to end in one table, which the packed pass gathers
    /// from at once (done once; `word` and `position` become views into it).
    pub fn prepare_packed(&mut self) -> candle_core::Result<()> {
        if self.table.is_none() {
            let (words, positions) = (self.word.table()?, self.position.embeddings());
            let (vocab, max_positions, h) = (words.dim(0)?, positions.dim(0)?, words.dim(1)?);
            let table = Tensor::cat(&[&words, positions], 0)?;
            self.word = Words::Loaded(Embedding::new(table.narrow(0, 0, vocab)?, h));
            self.position = Embedding::new(table.narrow(0, vocab, max_positions)?, h);
            self.table = Some(table);
        }
        Ok(())
    }

    /// The forward pass on a packed batch: returns the last hidden states, (T, hidden), one row
    /// per real token. Same maths as [`Self::forward`], without padding.
    pub fn forward_packed(
        &self,
        p: &Packed,
        profile: Option<&Profile>,
    ) -> candle_core::Result<Tensor> {
        let dev = self.device();
        let table = self.table.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("the packed pass runs after prepare_packed".into())
        })?;
        let mut x = stage(profile, "embeddings", dev, || {
            ops::embed_layer_norm(table, p, &self.embed_params, self.vocab, self.eps)
        })?;
        let heads = ops::Heads {
            count: self.heads,
            scale: (1.0 / (self.head_dim as f64).sqrt()) as f32,
            tensor_cores: self.tensor_cores,
        };
        for l in &self.layers {
            // Three products with the weights as loaded. One product with the concatenated
            // weight, or three with row blocks of it, measured the same on an H100 (README).
            let (q, k, v) = stage(profile, "qkv matmul", dev, || {
                let part = |i: usize| x.matmul(&l.q_k_v[i].t()?);
                Ok((part(0)?, part(1)?, part(2)?))
            })?;
            let ctx = stage(profile, "attention", dev, || {
                ops::attention(&q, &k, &v, &l.qkv_bias, p, &heads)
            })?;
            let a = stage(profile, "attn-out matmul", dev, || {
                ctx.matmul(&l.attn_out.weight().t()?)
            })?;
            x = stage(profile, "add+norm", dev, || {
                ops::add_layer_norm(&a, &x, &l.attn_params, self.eps)
            })?;
            let up = stage(profile, "up matmul", dev, || x.matmul(&l.up.weight().t()?))?;
            let up = stage(profile, "bias+gelu", dev, || {
                ops::bias_act(&up, &l.up_bias, self.act)
            })?;
            let down = stage(profile, "down matmul", dev, || {
                up.matmul(&l.down.weight().t()?)
            })?;
            x = stage(profile, "add+norm", dev, || {
                ops::add_layer_norm(&down, &x, &l.out_params, self.eps)
            })?;
        }
        Ok(x)
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
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        // On the CPU in f32, with texts padded at the end (as `SentenceEncoder` pads them):
        // the fused attention op over each text's real tokens.
        let attention = match (self.device().is_cpu() && self.dtype == DType::F32)
            .then(|| prefix_lengths(mask))
            .transpose()?
            .flatten()
        {
            Some(lengths) => Attention::Fused(CpuAttention {
                lengths,
                heads: self.heads,
                head_dim: self.head_dim,
                scale: scale as f32,
            }),
            None => {
                // Additive attention bias: 0 for real tokens, a large finite negative for
                // padding (finite so that f16/bf16 never produce 0 * inf = NaN).
                let bias = ((mask.ones_like()? - mask)? * -1e4)?.reshape((b, 1, 1, n))?;
                Attention::Masked { bias, scale }
            }
        };
        for layer in &self.layers {
            x = match &attention {
                Attention::Fused(op) => self.cpu_layer(layer, &x, op, b, n)?,
                Attention::Masked { bias, scale } => self.layer(layer, &x, bias, *scale, b, n)?,
            };
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
        let part = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = ((part(0)? * scale)?, part(1)?, part(2)?);
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

    /// [`Self::layer`] on the CPU in f32: the fused attention, and the bias, residual, layer
    /// norm and activation steps of the packed pass (one pass over memory each instead of two or
    /// three candle ops), on the (batch × seq, hidden) rows.
    fn cpu_layer(
        &self,
        l: &Layer,
        x: &Tensor,
        attention: &CpuAttention,
        b: usize,
        n: usize,
    ) -> candle_core::Result<Tensor> {
        let hidden = self.heads * self.head_dim;
        let x = x.reshape((b * n, hidden))?;
        let qkv = l.qkv.forward(&x)?.reshape((b, n, 3 * hidden))?;
        let ctx = attention.apply(&qkv)?.reshape((b * n, hidden))?;
        let a = ctx.matmul(&l.attn_out.weight().t()?)?;
        let x = ops::add_layer_norm(&a, &x, &l.attn_params, self.eps)?;
        let up = x.matmul(&l.up.weight().t()?)?;
        let up = ops::bias_act(&up, &l.up_bias, self.act)?;
        let down = up.matmul(&l.down.weight().t()?)?;
        ops::add_layer_norm(&down, &x, &l.out_params, self.eps)?.reshape((b, n, hidden))
    }
}

/// How the padded pass attends: the fused CPU op over real tokens, or candle ops with a mask.
enum Attention {
    Fused(CpuAttention),
    Masked { bias: Tensor, scale: f64 },
}

/// Each text's number of real tokens when every mask row is ones then zeros with at least one
/// one (padding at the end); `None` otherwise.
fn prefix_lengths(mask: &Tensor) -> candle_core::Result<Option<Vec<usize>>> {
    let rows = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(rows
        .iter()
        .map(|row| {
            let len = row.iter().take_while(|&&m| m == 1.0).count();
            (len > 0 && row[len..].iter().all(|&m| m == 0.0)).then_some(len)
        })
        .collect())
}
