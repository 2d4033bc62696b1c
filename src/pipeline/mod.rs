//! The jobs, stage after stage: read → tokenize → embed → write, streaming in chunks so memory
//! does not grow with the number of articles.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::DType;
use rayon::prelude::*;

use crate::device::{DeviceChoice, DeviceError, Precision};
use crate::embed::{
    plan_batches, AttentionKernel, EmbedError, Embedder, Forward, HostWeights, ModelConfig,
    SentenceEncoder, TextTokenizer, Tokens,
};
use crate::io::embeddings_out::{EmbeddedArticle, EmbeddingsWriter, WriteError};
use crate::io::{ArticleReader, BadRecord, ReadError, ReadOptions, TextSpec};
use crate::model::{ModelError, ModelFiles, ResolveOptions};
use crate::progress::Progress;

pub mod cluster;
mod produce;

pub use cluster::{run_cluster, ClusterJob, ClusterSummary, KChoice};
use produce::{produce, Produced};

/// Parquet metadata keys of an embeddings file.
pub mod meta {
    pub const VERSION: &str = "newsclust.version";
    pub const MODEL_ID: &str = "newsclust.model_id";
    pub const MODEL_REVISION: &str = "newsclust.model_revision";
    pub const POOLING: &str = "newsclust.pooling";
    pub const NORMALIZE: &str = "newsclust.normalize";
    pub const DIMENSION: &str = "newsclust.dimension";
    pub const MAX_LENGTH: &str = "newsclust.max_length";
    pub const DEVICE: &str = "newsclust.device";
    pub const DTYPE: &str = "newsclust.dtype";
    pub const TEXT_FIELDS: &str = "newsclust.text_fields";
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("{0} (--strict makes any bad record fatal)")]
    Strict(BadRecord),
    #[error("{0}")]
    Config(String),
    #[error("no article could be embedded: {}", nothing_embedded(*.0))]
    NothingEmbedded(u64),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

/// Why a job embedded nothing, from the records it skipped.
fn nothing_embedded(skipped: u64) -> String {
    match skipped {
        0 => "the input holds no records".into(),
        1 => "its one record was skipped".into(),
        n => format!("all {n} records were skipped"),
    }
}

/// Everything `newsclust embed` needs.
#[derive(Clone, Debug)]
pub struct EmbedJob {
    /// Input files and folders, read in this order (see [`crate::io::input_files`]).
    pub inputs: Vec<PathBuf>,
    pub read: ReadOptions,
    pub text: TextSpec,
    pub model: String,
    pub resolve: ResolveOptions,
    pub max_length: Option<usize>,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// Texts per forward pass; `None`: [`default_batch_size`] for the device.
    pub batch_size: Option<usize>,
    /// Packed or padded forward pass (default: by device).
    pub forward: Forward,
    /// The packed pass's attention kernel on CUDA in f16/bf16.
    pub attention: AttentionKernel,
    /// Batches embedded side by side on the CPU (see [`crate::device::configure_cpu_workers`]).
    pub cpu_workers: usize,
    pub out: PathBuf,
    pub strict: bool,
    pub quiet: bool,
}

impl EmbedJob {
    /// A job with the defaults of the command line, reading one file or folder.
    pub fn new(
        input: impl Into<PathBuf>,
        model: impl Into<String>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            inputs: vec![input.into()],
            read: ReadOptions::default(),
            text: TextSpec::default(),
            model: model.into(),
            resolve: ResolveOptions::from_env(),
            max_length: None,
            device: DeviceChoice::Auto,
            precision: Precision::F32,
            batch_size: None,
            forward: Forward::Auto,
            attention: AttentionKernel::default(),
            cpu_workers: 1,
            out: out.into(),
            strict: false,
            quiet: true,
        }
    }
}

/// What a finished embedding job did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbedSummary {
    /// The files read, folders expanded, in reading order.
    pub input_files: Vec<PathBuf>,
    pub read: u64,
    pub embedded: u64,
    pub skipped: u64,
    pub truncated: u64,
    pub tokens: u64,
    pub device: String,
    /// Texts per forward pass used.
    pub batch_size: usize,
    pub model_id: String,
    pub model_revision: String,
    pub dimension: usize,
    /// From the start until the model is ready (input opened, tokenizer and device ready,
    /// weights loaded).
    pub load_seconds: f64,
    /// Opening the device (on its own thread, beside opening the input and the tokenizer).
    pub device_seconds: f64,
    /// Loading the weights onto the device.
    pub weights_seconds: f64,
    pub tokenize_seconds: f64,
    pub embed_seconds: f64,
    /// Time the embedding loop waited for the Parquet writer (it runs on its own thread).
    pub write_wait_seconds: f64,
    /// Time the embedding loop waited for tokenized chunks (read and tokenized on their own
    /// threads): a loop faster than reading and tokenizing waits here.
    pub input_wait_seconds: f64,
    pub total_seconds: f64,
}

/// Texts per forward pass on the CPU when not given: 16 measured fastest on 2 cores (131 docs/s
/// against 112 at 64, with a third of the memory).
const CPU_BATCH: usize = 16;
/// Texts per forward pass on a GPU when not given (an H100, f16: 105,605 docs/s at 1,024 against
/// 95,156 at 256).
const GPU_BATCH: usize = 1024;

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
fn chunk_size(batch_size: usize) -> usize {
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
    ) -> Result<Self, PipelineError> {
        let files = crate::model::resolve(spec, resolve)?;
        let config = ModelConfig::load(&files, max_length)?;
        let tokenizer = TextTokenizer::from_file(&files.tokenizer, config.max_length)?;
        // Every id must index the model's embedding table (the GPU kernels do not check).
        if tokenizer.vocab_size() > config.bert.vocab_size {
            return Err(EmbedError::Model {
                path: files.tokenizer.clone(),
                message: format!(
                    "the tokenizer has {} tokens but the model's vocab_size is {}: they do not belong together",
                    tokenizer.vocab_size(),
                    config.bert.vocab_size
                ),
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
    ) -> Result<Self, PipelineError> {
        Self::load_as(spec, resolve, max_length, device, Precision::F32)
    }

    /// Resolves and loads a model on `device` in `precision` (f16/bf16 need CUDA).
    pub fn load_as(
        spec: &str,
        resolve: &ResolveOptions,
        max_length: Option<usize>,
        device: DeviceChoice,
        precision: Precision,
    ) -> Result<Self, PipelineError> {
        // Device and precision first: a bad combination fails before any model I/O.
        let device = device.open()?;
        precision.check(&device)?;
        let parts = ModelParts::resolve(spec, resolve, max_length)?;
        Self::from_parts(parts, &device, precision)
    }

    /// Loads the encoder of `parts` on `device` in `precision`.
    pub fn from_parts(
        parts: ModelParts,
        device: &candle_core::Device,
        precision: Precision,
    ) -> Result<Self, PipelineError> {
        Self::from_prepared(parts, device, precision, None)
    }

    /// [`Self::from_parts`], with the weights already in host memory when `host` holds them
    /// (`SentenceEncoder::prepare_weights`).
    pub fn from_prepared(
        parts: ModelParts,
        device: &candle_core::Device,
        precision: Precision,
        host: Option<HostWeights>,
    ) -> Result<Self, PipelineError> {
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
    /// budget: see [`max_batch_tokens`]); on the CPU with `workers` > 1, that many batches run
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

/// Runs `newsclust embed`. `on_bad` sees every skipped record (the CLI prints them).
pub fn run_embed(
    job: &EmbedJob,
    on_bad: impl FnMut(&BadRecord),
) -> Result<EmbedSummary, PipelineError> {
    let (summary, model) = run_embed_keeping_model(job, on_bad)?;
    let t = Instant::now();
    drop(model);
    tracing::debug!(
        "model and device freed in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    Ok(summary)
}

/// [`run_embed`], handing the loaded model (and with it the device) back instead of freeing
/// it: a program about to exit can skip freeing a GPU's memory and context, and one that embeds
/// again can reuse them. The output file is complete and synced when this returns.
pub fn run_embed_keeping_model(
    job: &EmbedJob,
    mut on_bad: impl FnMut(&BadRecord),
) -> Result<(EmbedSummary, LoadedModel), PipelineError> {
    let started = Instant::now();
    if job.batch_size == Some(0) {
        return Err(PipelineError::Config(
            "--batch-size must be at least 1".into(),
        ));
    }
    // A precision the CPU cannot run fails before any I/O.
    if job.device == DeviceChoice::Cpu {
        job.precision.check(&candle_core::Device::Cpu)?;
    }
    let mut summary = EmbedSummary::default();
    let mut skip = |bad: BadRecord, summary: &mut EmbedSummary| -> Result<(), PipelineError> {
        summary.read += 1;
        summary.skipped += 1;
        if job.strict {
            return Err(PipelineError::Strict(bad));
        }
        on_bad(&bad);
        Ok(())
    };
    // Stages on their own threads, handing over chunks through bounded channels (memory stays
    // flat): the producer reads on one thread and tokenizes on a pool beside it (`produce.rs`;
    // it starts while the device and the model load, and runs up to `AHEAD` chunks ahead),
    // this thread embeds, a writer writes Parquet.
    // Before them, the device opens on a thread of its own (a GPU's context and libraries take
    // a while) while this thread opens the input and loads the tokenizer.
    // 8 chunks (65,536 texts on a GPU, some 40 MB) bank what the producer tokenizes while the
    // model loads (0.3 s on an H100, where tokenizing runs at ~160k texts/s): a loop faster than
    // the producer then still starts with a backlog.
    const AHEAD: usize = 8;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Produced>(AHEAD);
    let (wtx, wrx) = std::sync::mpsc::sync_channel::<(Vec<EmbeddedArticle>, Vec<f32>)>(2);
    let (writer, model) = std::thread::scope(|scope| -> Result<_, PipelineError> {
        let opening = scope.spawn(|| {
            let t = Instant::now();
            job.device.open().map(|d| (d, t.elapsed().as_secs_f64()))
        });
        let join_device = move || {
            opening
                .join()
                .map_err(|_| PipelineError::Config("opening the device panicked".into()))?
                .map_err(PipelineError::from)
        };
        let inputs = (|| -> Result<_, PipelineError> {
            let reader = ArticleReader::open_all(&job.inputs, &job.read)?;
            let parts = ModelParts::resolve(&job.model, &job.resolve, job.max_length)?;
            Ok((reader, parts))
        })();
        let (reader, parts) = match inputs {
            Ok(v) => v,
            Err(err) => {
                // A device that cannot open is reported first, as when it opened first.
                join_device()?;
                return Err(err);
            }
        };
        let columns = reader.columns().clone();
        summary.input_files = reader.files().to_vec();
        let tokenizer = parts.tokenizer.clone();
        // The chunk size is needed before the device is known: `auto` plans for a GPU.
        let chunk_size = chunk_size(job.batch_size.unwrap_or(match job.device {
            DeviceChoice::Cpu => CPU_BATCH,
            _ => GPU_BATCH,
        }));
        let text = &job.text;
        scope.spawn(move || produce(reader, text, &tokenizer, chunk_size, tx));
        // Half-precision weights are read and converted while the device opens.
        let dtype = job.precision.dtype();
        let preparing = HostWeights::wanted(dtype).then(|| {
            let files = parts.files.clone();
            scope.spawn(move || SentenceEncoder::prepare_weights(&files, dtype))
        });
        // Returning early (an error) drops `rx`, which stops the producer at its next send.
        let (device, device_seconds) = join_device()?;
        summary.device_seconds = device_seconds;
        let t = Instant::now();
        let host = match preparing {
            Some(thread) => Some(
                thread
                    .join()
                    .map_err(|_| PipelineError::Config("reading the weights panicked".into()))??,
            ),
            None => None,
        };
        let mut model = LoadedModel::from_prepared(parts, &device, job.precision, host)?;
        summary.weights_seconds = t.elapsed().as_secs_f64();
        model.encoder.set_forward(job.forward);
        model.encoder.set_attention(job.attention);
        let dim = model.encoder.dim();
        summary.load_seconds = started.elapsed().as_secs_f64();
        summary.device = model.encoder.device_name();
        summary.model_id = model.files.id.clone();
        summary.model_revision = model.files.revision.clone();
        summary.dimension = dim;
        summary.batch_size = job
            .batch_size
            .unwrap_or_else(|| default_batch_size(&device));
        tracing::info!(
            "model {}@{} ({}-d, {} pooling{}, max {} tokens) on {}, {} batches",
            summary.model_id,
            summary.model_revision,
            dim,
            model.config.pooling.name(),
            if model.config.normalize {
                ", normalized"
            } else {
                ""
            },
            model.config.max_length,
            summary.device,
            if model.encoder.uses_tensor_cores() {
                "packed (attention on tensor cores)"
            } else if model.encoder.is_packed() {
                "packed"
            } else {
                "padded"
            }
        );
        let writer = EmbeddingsWriter::create(&job.out, &columns, dim, metadata(job, &model))?;
        let mut progress = Progress::new("embed", job.read.limit, job.quiet);
        let writing = scope.spawn(move || -> Result<EmbeddingsWriter, WriteError> {
            let mut writer = writer;
            for (rows, vectors) in wrx {
                writer.write(&rows, vectors)?;
            }
            Ok(writer)
        });
        // Returning early drops `rx` and `wtx`, which stops the other two threads.
        let embedded = (|| -> Result<(), PipelineError> {
            loop {
                let t = Instant::now();
                let Ok(produced) = rx.recv() else { break };
                summary.input_wait_seconds += t.elapsed().as_secs_f64();
                match produced {
                    Produced::Bad(bad) => skip(bad, &mut summary)?,
                    Produced::Fatal(err) => return Err(err),
                    Produced::Chunk(rows, tokens, seconds) => {
                        summary.read += rows.len() as u64;
                        summary.tokenize_seconds += seconds;
                        let done = embed_chunk(
                            &model,
                            job.cpu_workers,
                            rows,
                            tokens,
                            &mut summary,
                            &mut progress,
                        )?;
                        let t = Instant::now();
                        let sent = wtx.send(done);
                        summary.write_wait_seconds += t.elapsed().as_secs_f64();
                        if sent.is_err() {
                            // The writer stopped on an error: it is reported below.
                            break;
                        }
                    }
                }
            }
            Ok(())
        })();
        drop(wtx);
        let t = Instant::now();
        let written = writing
            .join()
            .map_err(|_| PipelineError::Config("the Parquet writer thread panicked".into()))?;
        let waited = t.elapsed().as_secs_f64();
        summary.write_wait_seconds += waited;
        tracing::debug!("the writer finished its last rows {waited:.3} s after the last batch");
        progress.finish();
        embedded?;
        Ok((written?, model))
    })?;
    if summary.embedded == 0 {
        return Err(PipelineError::NothingEmbedded(summary.skipped));
    }
    let t = Instant::now();
    let (_, times) = writer.finish_timed()?;
    tracing::debug!(
        "Parquet footer, sync and rename {:.3} s",
        t.elapsed().as_secs_f64()
    );
    tracing::debug!(
        "the writer's thread: {} row groups; waited {:.3} s for their encoding, appended them in {:.3} s, synced in {:.3} s",
        times.row_groups,
        times.encode_wait_seconds,
        times.append_seconds,
        times.sync_seconds
    );
    summary.total_seconds = started.elapsed().as_secs_f64();
    Ok((summary, model))
}

/// The Parquet footer metadata of an embeddings file.
fn metadata(job: &EmbedJob, model: &LoadedModel) -> Vec<(String, String)> {
    vec![
        (meta::VERSION.into(), crate::VERSION.into()),
        (meta::MODEL_ID.into(), model.files.id.clone()),
        (meta::MODEL_REVISION.into(), model.files.revision.clone()),
        (meta::POOLING.into(), model.config.pooling.name().into()),
        (meta::NORMALIZE.into(), model.config.normalize.to_string()),
        (meta::DIMENSION.into(), model.encoder.dim().to_string()),
        (meta::MAX_LENGTH.into(), model.config.max_length.to_string()),
        (meta::DEVICE.into(), model.encoder.device_name()),
        (meta::DTYPE.into(), job.precision.name().into()),
        (
            meta::TEXT_FIELDS.into(),
            job.text
                .fields
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]
}

/// Embeds one chunk; returns its rows (token counts filled in) and vectors, for the writer.
fn embed_chunk(
    model: &LoadedModel,
    workers: usize,
    chunk: Vec<EmbeddedArticle>,
    tokens: Vec<Tokens>,
    summary: &mut EmbedSummary,
    progress: &mut Progress,
) -> Result<(Vec<EmbeddedArticle>, Vec<f32>), PipelineError> {
    let t1 = Instant::now();
    let vectors = model.embed_tokens(&tokens, summary.batch_size, workers, |docs, toks| {
        progress.add(docs, toks)
    })?;
    summary.embed_seconds += t1.elapsed().as_secs_f64();

    let rows: Vec<EmbeddedArticle> = chunk
        .into_iter()
        .zip(&tokens)
        .map(|(mut row, tok)| {
            row.n_tokens = tok.ids.len() as u32;
            row.truncated = tok.truncated;
            row
        })
        .collect();
    summary.embedded += rows.len() as u64;
    summary.tokens += tokens.iter().map(|t| t.ids.len() as u64).sum::<u64>();
    summary.truncated += rows.iter().filter(|r| r.truncated).count() as u64;
    Ok((rows, vectors))
}
