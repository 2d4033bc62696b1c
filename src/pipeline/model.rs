//! A model ready to embed ([`LoadedModel`]: files, config, tokenizer, encoder, and a CPU copy for
//! out-of-memory fallback), and how it embeds tokenized texts: length-sorted batches, side by
//! side on the CPU or one queued behind another on a GPU.

use std::sync::Arc;
use std::time::Instant;

use candle_core::DType;
use rayon::prelude::*;

use crate::device::{CudaOptions, DeviceChoice, Precision};
use crate::embed::{
    plan_batches, AttentionKernel, EmbedError, Embedder, Forward, HostWeights, ModelConfig,
    SentenceEncoder, TextTokenizer, Tokens,
};
use crate::error::Error;
use crate::matrix::Matrix;
use crate::model::{ModelFiles, ResolveOptions};

/// Texts per forward pass on the CPU when not given: 16 measured fastest on 2 cores (131 docs/s
/// against 112 at 64, with a third of the memory).
pub(super) const CPU_BATCH: usize = 16;
/// Texts per forward pass on a GPU when not given (an H100, f16: 105,605 docs/s at 1,024 against
/// 95,156 at 256).
pub(super) const GPU_BATCH: usize = 1024;

/// Texts per forward pass when not given: small batches on the CPU, large ones on a GPU.
pub fn default_batch_size(device: &candle_core::Device) -> usize {
    if device.is_cpu() {
        CPU_BATCH
    } else {
        GPU_BATCH
    }
}

/// Tokens per batch at most, so batches of long texts do not balloon in memory: padded tokens on
/// the CPU, real tokens (128 a text on average) when packed.
fn max_batch_tokens(batch_size: usize, packed: bool) -> usize {
    if packed {
        batch_size.saturating_mul(128).max(512)
    } else {
        (64 * 256).max(batch_size * 2)
    }
}

/// Texts per streaming chunk: large enough for length-sorted batches to pad little (and, on a
/// GPU, for several full batches per chunk).
pub(super) fn chunk_size(batch_size: usize) -> usize {
    4096.max(batch_size * 8)
}

/// What reading and tokenizing need of a model, before any device: its files, config and
/// tokenizer.
pub struct ModelParts {
    pub files: ModelFiles,
    pub config: ModelConfig,
    pub tokenizer: Arc<TextTokenizer>,
}

impl ModelParts {
    /// Finds the model (folder, installed copy, hub cache or hub) and reads its config and
    /// tokenizer.
    pub fn resolve(
        spec: &str,
        resolve: &ResolveOptions,
        max_length: Option<usize>,
    ) -> Result<Self, Error> {
        let files = crate::model::resolve(spec, resolve)?;
        let config = ModelConfig::load(&files, max_length)?;
        let tokenizer = TextTokenizer::from_file(&files.tokenizer, config.max_length)?;
        // Every id must index the model's embedding table (the GPU kernels do not check).
        if tokenizer.vocab_size() > config.bert.vocab_size {
            return Err(EmbedError::VocabMismatch {
                path: files.tokenizer.clone(),
                tokens: tokenizer.vocab_size(),
                vocab: config.bert.vocab_size,
            }
            .into());
        }
        Ok(Self {
            files,
            config,
            tokenizer: Arc::new(tokenizer),
        })
    }
}

/// A model ready to embed: its files, config, tokenizer and encoder.
pub struct LoadedModel {
    pub files: ModelFiles,
    pub config: ModelConfig,
    pub tokenizer: Arc<TextTokenizer>,
    pub encoder: SentenceEncoder,
    cpu_fallback: std::sync::OnceLock<SentenceEncoder>,
}

impl LoadedModel {
    /// Resolves and loads a model in f32.
    pub fn load(
        spec: &str,
        resolve: &ResolveOptions,
        max_length: Option<usize>,
        device: DeviceChoice,
    ) -> Result<Self, Error> {
        Self::load_as(spec, resolve, max_length, device, Precision::F32)
    }

    /// Resolves and loads a model on `device` in `precision` (f16/bf16 need CUDA).
    pub fn load_as(
        spec: &str,
        resolve: &ResolveOptions,
        max_length: Option<usize>,
        device: DeviceChoice,
        precision: Precision,
    ) -> Result<Self, Error> {
        Self::load_with(
            spec,
            resolve,
            max_length,
            device,
            precision,
            CudaOptions::default(),
        )
    }

    /// [`Self::load_as`], a CUDA device opened as `cuda` says.
    pub fn load_with(
        spec: &str,
        resolve: &ResolveOptions,
        max_length: Option<usize>,
        device: DeviceChoice,
        precision: Precision,
        cuda: CudaOptions,
    ) -> Result<Self, Error> {
        // Device and precision first: a bad combination fails before any model I/O.
        let device = device.open_with(cuda)?;
        precision.check(&device)?;
        let parts = ModelParts::resolve(spec, resolve, max_length)?;
        Self::from_parts(parts, &device, precision)
    }

    /// Loads the encoder of `parts` on `device` in `precision`.
    pub fn from_parts(
        parts: ModelParts,
        device: &candle_core::Device,
        precision: Precision,
    ) -> Result<Self, Error> {
        Self::from_prepared(parts, device, precision, None)
    }

    /// [`Self::from_parts`], with the weights already in host memory when `host` holds them
    /// (`SentenceEncoder::prepare_weights`).
    pub fn from_prepared(
        parts: ModelParts,
        device: &candle_core::Device,
        precision: Precision,
        host: Option<HostWeights>,
    ) -> Result<Self, Error> {
        precision.check(device)?;
        let ModelParts {
            files,
            config,
            tokenizer,
        } = parts;
        let encoder =
            SentenceEncoder::load_prepared(&files, &config, device, precision.dtype(), host)?;
        Ok(Self {
            files,
            config,
            tokenizer,
            encoder,
            cpu_fallback: std::sync::OnceLock::new(),
        })
    }

    /// How batches run through the encoder: the forward pass, the attention kernel of the packed
    /// pass, and whether a batch is queued behind the one in work on a GPU.
    pub fn set_pass(&mut self, forward: Forward, attention: AttentionKernel, queue_batches: bool) {
        self.encoder.set_forward(forward);
        self.encoder.set_attention(attention);
        self.encoder.set_overlap(queue_batches);
    }

    /// The same model on the CPU in f32, loaded on first use (for out-of-memory fallback).
    pub fn cpu_fallback(&self) -> Result<&SentenceEncoder, EmbedError> {
        if let Some(enc) = self.cpu_fallback.get() {
            return Ok(enc);
        }
        let enc = SentenceEncoder::load(
            &self.files,
            &self.config,
            &candle_core::Device::Cpu,
            DType::F32,
        )?;
        Ok(self.cpu_fallback.get_or_init(|| enc))
    }

    /// Embeds tokenized texts in length-sorted batches (at most `batch_size` texts, and a token
    /// budget: see `max_batch_tokens`); on the CPU with `workers` > 1, that many batches run
    /// side by side. `on_batch(texts, tokens)` follows progress. Returns the vectors in input order.
    pub fn embed_tokens(
        &self,
        tokens: &[Tokens],
        batch_size: usize,
        workers: usize,
        mut on_batch: impl FnMut(u64, u64),
    ) -> Result<Vec<f32>, EmbedError> {
        let dim = self.encoder.dim();
        let lengths: Vec<usize> = tokens.iter().map(|t| t.ids.len()).collect();
        let packed = self.encoder.is_packed();
        let max_tokens = max_batch_tokens(batch_size, packed);
        let batches = plan_batches(&lengths, batch_size, max_tokens, packed);
        let mut vectors = vec![0f32; tokens.len() * dim];
        let embed = |batch: &Vec<usize>| {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| tokens[i].ids.as_slice()).collect();
            self.embed(&seqs)
        };
        let parallel = workers > 1 && self.encoder.device().is_cpu();
        // Queued batches pay on a GPU; side-by-side batches on the CPU come first.
        if self.encoder.overlaps() && !parallel {
            return self.embed_overlapped(tokens, &batches, vectors, on_batch);
        }
        // Side by side in groups of `workers` batches, so progress still moves as they finish.
        let group = if parallel { workers } else { 1 };
        for batches in batches.chunks(group) {
            let t = Instant::now();
            let outputs: Vec<Result<Vec<f32>, EmbedError>> = if parallel {
                batches.par_iter().map(embed).collect()
            } else {
                batches.iter().map(embed).collect()
            };
            let seconds = t.elapsed().as_secs_f64();
            for (batch, out) in batches.iter().zip(outputs) {
                place(&mut vectors, dim, batch, &out?);
                let batch_tokens: usize = batch.iter().map(|&i| lengths[i]).sum();
                // Where a job's time goes, batch by batch (-v): the first batches pay for what
                // runs once (kernel loading, the memory pool growing).
                tracing::debug!(
                    "batch of {} texts, {} tokens: {:.4} s (with {} beside it)",
                    batch.len(),
                    batch_tokens,
                    seconds,
                    batches.len() - 1
                );
                on_batch(batch.len() as u64, batch_tokens as u64);
            }
        }
        Ok(vectors)
    }

    /// [`Self::embed_tokens`] with one batch queued behind the one in work (see
    /// [`SentenceEncoder::submit`]); a batch that runs out of memory waits for the one before
    /// it, then goes through [`Self::embed`] (halved, or on the CPU).
    fn embed_overlapped(
        &self,
        tokens: &[Tokens],
        batches: &[Vec<usize>],
        mut vectors: Vec<f32>,
        mut on_batch: impl FnMut(u64, u64),
    ) -> Result<Vec<f32>, EmbedError> {
        let dim = self.encoder.dim();
        let mut done = |batch: &[usize], out: Vec<f32>, t: &mut Instant| {
            place(&mut vectors, dim, batch, &out);
            let batch_tokens: usize = batch.iter().map(|&i| tokens[i].ids.len()).sum();
            tracing::debug!(
                "batch of {} texts, {} tokens: back {:.4} s after the one before (queued)",
                batch.len(),
                batch_tokens,
                t.elapsed().as_secs_f64()
            );
            *t = Instant::now();
            on_batch(batch.len() as u64, batch_tokens as u64);
        };
        let mut t = Instant::now();
        let mut in_work: Option<(&[usize], crate::embed::Pending)> = None;
        for batch in batches {
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| tokens[i].ids.as_slice()).collect();
            let next = match self.encoder.submit(&seqs) {
                Ok(pending) => pending,
                Err(err) if crate::embed::retry::is_out_of_memory(&err) => {
                    if let Some((prev, pending)) = in_work.take() {
                        done(prev, pending.wait()?, &mut t);
                    }
                    done(batch, self.embed(&seqs)?, &mut t);
                    continue;
                }
                Err(err) => return Err(err),
            };
            if let Some((prev, pending)) = in_work.replace((batch, next)) {
                done(prev, pending.wait()?, &mut t);
            }
        }
        if let Some((prev, pending)) = in_work {
            done(prev, pending.wait()?, &mut t);
        }
        Ok(vectors)
    }

    /// Embeds one batch, surviving out-of-memory (see [`crate::embed::retry`]).
    pub fn embed(&self, seqs: &[&[u32]]) -> Result<Vec<f32>, EmbedError> {
        let fallback = || self.cpu_fallback().map(|e| e as &dyn Embedder);
        crate::embed::retry::embed_resilient(&self.encoder, &fallback, seqs)
    }
}

/// Puts a batch's vectors (`out`, row after row) at its texts' places in `vectors`.
fn place(vectors: &mut [f32], dim: usize, batch: &[usize], out: &[f32]) {
    for (row, &i) in batch.iter().enumerate() {
        vectors[i * dim..(i + 1) * dim].copy_from_slice(&out[row * dim..(row + 1) * dim]);
    }
}

/// Texts a batch of [`embed_texts`]: short texts of like lengths, so little is padding.
const TEXT_BATCH: usize = 64;

/// Tokenizes and embeds `texts` (labels, queries, phrases, themes), in batches of like lengths:
/// unit-length rows when the model normalizes (the embedding job batches its own input).
pub fn embed_texts<S: AsRef<str> + Sync>(
    model: &LoadedModel,
    texts: &[S],
) -> Result<Matrix, Error> {
    let tokens = model.tokenizer.encode_all(texts)?;
    let values = model.embed_tokens(&tokens, TEXT_BATCH, 1, |_, _| {})?;
    Ok(Matrix::new(values, model.encoder.dim()).expect("one vector per text"))
}

/// Phrases, themes and labels are embedded through the loaded model.
impl crate::topics::Encoder for LoadedModel {
    fn encode(&self, texts: &[String]) -> Result<Matrix, crate::topics::EncodeError> {
        let mut m = embed_texts(self, texts)?;
        m.normalize_rows();
        Ok(m)
    }
}
