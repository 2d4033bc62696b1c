//! Texts → token batches → sentence embeddings (N × D, f32, L2-normalized when the model says so).
//!
//! [`Embedder`] is the stage's one trait, so a CPU and a GPU implementation (or a test double) can
//! stand in for each other. [`SentenceEncoder`] is the candle implementation for BERT models.

mod attention_cpu;
mod bert;
pub mod config;
#[cfg(feature = "cuda")]
mod cuda;
mod fastmath;
mod mapped;
pub mod ops;
mod pending;
pub mod pooling;
pub mod profile;
pub mod retry;
pub mod tokenize;
mod weights;

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use bert::BertEncoder;
pub use config::{BertConfig, ModelConfig};
pub use ops::Packed;
pub use pending::Pending;
pub use pooling::Pooling;
use profile::{stage, Profile};
pub use tokenize::{plan_batches, TextTokenizer, Tokens};
pub use weights::HostWeights;

use crate::model::ModelFiles;

/// What is wrong with a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelProblem {
    #[error("cannot read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("model_type '{0}' is not supported (BERT models only)")]
    ModelType(String),
    #[error("only absolute position embeddings are supported")]
    PositionEmbeddings,
    #[error("hidden_act '{0}' is not supported")]
    Activation(String),
    #[error("hidden_size must be a multiple of num_attention_heads")]
    Heads,
    #[error(transparent)]
    Pooling(#[from] pooling::PoolingProblem),
    #[error("{0}")]
    Modules(#[source] Box<crate::model::ModelError>),
    #[error("truncated: only {0} bytes, not a safetensors file")]
    TooShort(u64),
    #[error("truncated or not safetensors: header says {header} bytes, file has {len}")]
    Header { header: u64, len: u64 },
    #[error("corrupt safetensors header: {0}")]
    CorruptHeader(#[source] serde_json::Error),
    #[error("truncated: file has {len} bytes, its header needs {need}")]
    Truncated { len: u64, need: u64 },
    #[error("cannot load weights: {0}")]
    Weights(#[source] Box<candle_core::Error>),
    #[error("weights do not fit config.json: {0}")]
    Shapes(#[source] Box<candle_core::Error>),
}

/// A cause from the `tokenizers` crate.
pub type TokenizerError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file that cannot be used.
    #[error("{path}: {problem}")]
    Model {
        path: PathBuf,
        problem: ModelProblem,
    },
    #[error("max length {max_length} ({setting}) is outside 2..={limit} (the model's max_position_embeddings)")]
    MaxLength {
        max_length: usize,
        limit: usize,
        setting: crate::setting::Setting,
    },
    #[error("{path}: not a valid tokenizer.json: {source}")]
    Tokenizer {
        path: PathBuf,
        #[source]
        source: TokenizerError,
    },
    #[error("tokenizer: truncation at {max_length}: {source}")]
    Truncation {
        max_length: usize,
        #[source]
        source: TokenizerError,
    },
    #[error("tokenizer: {source}")]
    Tokenize {
        #[source]
        source: TokenizerError,
    },
    #[error("{path}: the tokenizer has {tokens} tokens but the model's vocab_size is {vocab}: they do not belong together")]
    VocabMismatch {
        path: PathBuf,
        tokens: usize,
        vocab: usize,
    },
    #[error("embedding on {device}: {source}")]
    Compute {
        device: String,
        source: candle_core::Error,
    },
}

/// A batch of token id sequences to embed together.
pub trait Embedder: Send + Sync {
    /// Vector size.
    fn dim(&self) -> usize;
    /// Embeds the sequences; returns `seqs.len() * dim()` values, row after row, in input order.
    fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<f32>, EmbedError>;
    /// `cpu` or `cuda:N`.
    fn device_name(&self) -> String;
}

/// A sentence-transformer (BERT + pooling + optional normalization) running on candle.
pub struct SentenceEncoder {
    encoder: BertEncoder,
    pooling: Pooling,
    normalize: bool,
    dim: usize,
    device: Device,
    /// Run the packed (padding-free) forward pass; see [`SentenceEncoder::set_forward`].
    packed: bool,
    /// Queue the next batch before the last one is back (see [`SentenceEncoder::overlaps`]).
    overlap: bool,
    /// Where the forward pass's stages are timed, when they are.
    profile: Option<std::sync::Arc<Profile>>,
    /// Page-locked buffers the vectors of submitted batches are copied into.
    #[cfg(feature = "cuda")]
    pinned: cuda::download::PinnedPool,
    /// This encoder counts as a user of its context's kernels (`cuda::load::retain`).
    #[cfg(feature = "cuda")]
    kernels_retained: bool,
}

/// Which kernel computes the packed pass's attention on CUDA in f16/bf16 (`--attention`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum AttentionKernel {
    /// One thread per query, f32 arithmetic on the CUDA cores. f32 models use it whatever is
    /// asked.
    CudaCores,
    /// WMMA products on the tensor cores, softmax in f32 (kernels: attention_tc.cuh): the
    /// embedding stage 1.20× faster than with the other kernel in f16 on an H100 (README).
    #[default]
    TensorCores,
}

/// Which forward pass runs a batch (`--forward`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Forward {
    /// Packed on CUDA (fused kernels, no padding work), padded on the CPU (where attention as a
    /// matrix product measured faster).
    #[default]
    Auto,
    /// Texts laid end to end, no padding ([`Packed`]).
    Packed,
    /// Texts padded to the longest in the batch, with an attention mask.
    Padded,
}

impl SentenceEncoder {
    /// Loads the weights of `files` onto `device` in `dtype`.
    pub fn load(
        files: &ModelFiles,
        config: &ModelConfig,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, EmbedError> {
        Self::load_prepared(files, config, device, dtype, None)
    }

    /// Reads the weights of `files` into host memory in `dtype`, for [`Self::load_prepared`]
    /// (a job does this while its device opens).
    pub fn prepare_weights(files: &ModelFiles, dtype: DType) -> Result<HostWeights, EmbedError> {
        let weights = &files.weights;
        check_safetensors(weights).map_err(|problem| EmbedError::Model {
            path: weights.clone(),
            problem,
        })?;
        // SAFETY: the file is memory-mapped read-only while it is read; model files are only
        // read.
        unsafe { HostWeights::read(weights, dtype) }.map_err(|e| EmbedError::Model {
            path: weights.clone(),
            problem: ModelProblem::Weights(Box::new(e)),
        })
    }

    /// [`Self::load`], with the weights already read ([`Self::prepare_weights`]) when `host`
    /// holds them in `dtype`.
    pub fn load_prepared(
        files: &ModelFiles,
        config: &ModelConfig,
        device: &Device,
        dtype: DType,
        host: Option<HostWeights>,
    ) -> Result<Self, EmbedError> {
        let weights = &files.weights;
        let model_err = |problem: ModelProblem| EmbedError::Model {
            path: weights.clone(),
            problem,
        };
        let vb = if device.is_cpu() || !HostWeights::wanted(dtype) {
            // Check the file is a complete safetensors file before mapping it: a truncated
            // download otherwise surfaces as an obscure error deep inside the loader.
            check_safetensors(weights).map_err(model_err)?;
            // SAFETY: the file is memory-mapped read-only; it must not be modified while we
            // run, which holds for model files we only read.
            unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, device) }
        } else {
            // Half precision on a GPU: converted on the host (`weights.rs`), unless done already.
            match host {
                Some(host) if host.dtype() == dtype => host,
                _ => Self::prepare_weights(files, dtype)?,
            }
            .var_builder(device)
        }
        .map_err(|e| model_err(ModelProblem::Weights(Box::new(e))))?;
        // On the CPU in f32 the word table is read from the mapped file as tokens need it.
        let mapped = (device.is_cpu() && dtype == DType::F32)
            .then(|| mapped::MappedRows::open(weights, &bert::WORD_TABLE))
            .flatten();
        let encoder = BertEncoder::load(vb, &config.bert, mapped)
            .map_err(|e| model_err(ModelProblem::Shapes(Box::new(e))))?;
        let mut encoder = Self {
            encoder,
            pooling: config.pooling,
            normalize: config.normalize,
            dim: config.bert.hidden_size,
            device: device.clone(),
            packed: false,
            overlap: true,
            profile: None,
            #[cfg(feature = "cuda")]
            pinned: Default::default(),
            #[cfg(feature = "cuda")]
            kernels_retained: false,
        };
        encoder.set_forward(Forward::Auto);
        #[cfg(feature = "cuda")]
        if let Device::Cuda(cuda) = device {
            // Failing here is not fatal: a pass that needs the kernels reports it when it runs.
            match cuda::load::retain(cuda) {
                Ok(()) => encoder.kernels_retained = true,
                Err(e) => tracing::warn!("cannot load newsclust's CUDA kernels: {e}"),
            }
        }
        Ok(encoder)
    }

    /// Chooses the forward pass; returns whether batches now run packed (on CUDA the packed
    /// pass needs kernels for the model's shapes, else the padded one runs).
    pub fn set_forward(&mut self, forward: Forward) -> bool {
        let want = match forward {
            Forward::Auto => !self.device.is_cpu(),
            Forward::Packed => true,
            Forward::Padded => false,
        };
        self.packed = want && self.encoder.packed_supported();
        if self.packed {
            if let Err(e) = self.encoder.prepare_packed() {
                tracing::warn!("batches run padded: cannot lay out the packed pass's table: {e}");
                self.packed = false;
            }
        }
        self.packed
    }

    /// Times the forward pass's stages into `profile` (device-synchronised: slower).
    pub fn set_profile(&mut self, profile: Option<std::sync::Arc<Profile>>) {
        self.profile = profile;
    }

    /// Whether batches run packed (their cost is real tokens, not padded ones).
    pub fn is_packed(&self) -> bool {
        self.packed
    }

    /// Chooses the packed pass's attention kernel; returns whether batches now run on tensor
    /// cores (packed, on CUDA, in f16/bf16).
    pub fn set_attention(&mut self, kernel: AttentionKernel) -> bool {
        self.encoder
            .set_tensor_cores(kernel == AttentionKernel::TensorCores);
        self.uses_tensor_cores()
    }

    /// Whether the packed pass's attention runs on tensor cores.
    pub fn uses_tensor_cores(&self) -> bool {
        self.packed
            && self.encoder.tensor_cores()
            && !self.device.is_cpu()
            && matches!(self.encoder.dtype(), DType::F16 | DType::BF16)
    }

    fn embed_tensor(&self, seqs: &[&[u32]]) -> candle_core::Result<Tensor> {
        if self.packed {
            return self.embed_packed(seqs);
        }
        let n = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let b = seqs.len();
        let mut ids = vec![0u32; b * n];
        let mut mask = vec![0f32; b * n];
        for (row, seq) in seqs.iter().enumerate() {
            ids[row * n..row * n + seq.len()].copy_from_slice(seq);
            mask[row * n..row * n + seq.len()].fill(1.0);
        }
        let ids = Tensor::from_vec(ids, (b, n), &self.device)?;
        let mask = Tensor::from_vec(mask, (b, n), &self.device)?.to_dtype(self.encoder.dtype())?;
        let hidden = self.encoder.forward(&ids, &mask)?;
        // Pool and normalize in f32 (on the device), whatever the model's precision.
        let hidden = hidden.to_dtype(DType::F32)?;
        let mask = mask.to_dtype(DType::F32)?;
        let pooled = self.pooling.apply(&hidden, &mask)?;
        if self.normalize {
            pooling::l2_normalize(&pooled)
        } else {
            Ok(pooled)
        }
    }
}

impl SentenceEncoder {
    fn embed_packed(&self, seqs: &[&[u32]]) -> candle_core::Result<Tensor> {
        let dev = &self.device;
        let profile = self.profile.as_deref();
        let p = stage(profile, "upload", dev, || Packed::new(seqs, dev))?;
        let hidden = self.encoder.forward_packed(&p, profile)?;
        stage(profile, "pool", dev, || {
            ops::pool(&hidden, &p, self.pooling, self.normalize)
        })
    }
}

impl Embedder for SentenceEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<f32>, EmbedError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_tensor(seqs)
            .and_then(|t| {
                stage(self.profile.as_deref(), "download", &self.device, || {
                    t.flatten_all()?.to_vec1::<f32>()
                })
            })
            .map_err(|source| EmbedError::Compute {
                device: self.device_name(),
                source,
            })
    }

    fn device_name(&self) -> String {
        crate::device::describe(&self.device)
    }
}

/// The kernels loaded for this encoder's context go with the last encoder there.
#[cfg(feature = "cuda")]
impl Drop for SentenceEncoder {
    fn drop(&mut self) {
        if let (Device::Cuda(cuda), true) = (&self.device, self.kernels_retained) {
            cuda::load::release(cuda);
        }
    }
}

impl SentenceEncoder {
    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.encoder.dtype()
    }
}

/// Checks the safetensors header and that the file is as long as the header says.
fn check_safetensors(path: &std::path::Path) -> Result<(), ModelProblem> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(ModelProblem::Unreadable)?;
    let len = file.metadata().map_err(ModelProblem::Unreadable)?.len();
    let mut head = [0u8; 8];
    file.read_exact(&mut head)
        .map_err(|_| ModelProblem::TooShort(len))?;
    let header_len = u64::from_le_bytes(head);
    if header_len > len.saturating_sub(8) || header_len > 100_000_000 {
        return Err(ModelProblem::Header {
            header: header_len,
            len,
        });
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(ModelProblem::Unreadable)?;
    let meta: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(ModelProblem::CorruptHeader)?;
    let end = meta
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let need = 8 + header_len + end;
    if len < need {
        return Err(ModelProblem::Truncated { len, need });
    }
    Ok(())
}
