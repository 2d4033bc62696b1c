//! `newsclust bench`: the embed and cluster stages timed on each device and precision, with
//! throughput, peak memory and speed-up against CPU f32, as a table, Parquet and JSON.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};

use crate::cluster::{kmeans, KMeansKernels, KMeansParams};
use crate::device::{CudaOptions, DeviceChoice, Precision};
use crate::embed::profile::Profile;
use crate::embed::{EmbedError, Embedder};
use crate::error::Error;
use crate::io::atomic::AtomicFile;
use crate::io::WriteError;
use crate::io::{ArticleReader, ReadOptions, TextSpec};
use crate::matrix::Matrix;
use crate::model::ResolveOptions;
use crate::pipeline::LoadedModel;
use crate::setting::{Invalid, Setting};

/// What `newsclust bench` runs.
#[derive(Clone, Debug)]
pub struct BenchJob {
    /// Input files and folders, read in this order.
    pub inputs: Vec<PathBuf>,
    pub read: ReadOptions,
    pub text: TextSpec,
    pub model: String,
    pub resolve: ResolveOptions,
    pub devices: Vec<DeviceChoice>,
    pub dtypes: Vec<Precision>,
    /// Texts per forward pass; `None`: the device's default.
    pub batch_size: Option<usize>,
    /// Packed or padded forward pass (default: by device).
    pub forward: crate::embed::Forward,
    /// The packed pass's attention kernel on CUDA in f16/bf16.
    pub attention: crate::embed::AttentionKernel,
    /// On a GPU, queue the next batch before the last one is back.
    pub queue_batches: bool,
    /// Also time the forward pass's stages (device-synchronised) and print their table.
    pub profile: bool,
    pub cuda: CudaOptions,
    /// The timed k-means on a GPU: our kernels or candle's ops.
    pub kmeans_kernels: KMeansKernels,
    pub repeat: usize,
    /// k of the timed k-means.
    pub k: usize,
    pub cpu_workers: usize,
    pub out: Option<PathBuf>,
}

/// One device × precision.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchRow {
    pub device: String,
    pub dtype: String,
    /// `packed`, `packed-tc` (attention on tensor cores) or `padded`; `+queued` when batches
    /// are queued on a GPU (unless `queue_batches` is off).
    pub forward: String,
    pub batch_size: u64,
    pub docs: u64,
    pub tokens: u64,
    /// Best of the repeats, seconds.
    pub tokenize_s: f64,
    pub embed_s: f64,
    pub cluster_s: f64,
    /// Documents (and tokens) per second of tokenize + embed.
    pub docs_per_s: f64,
    /// Documents per second of the embedding stage alone (batches to vectors on the host).
    pub embed_docs_per_s: f64,
    pub tokens_per_s: f64,
    pub peak_rss_mib: f64,
    pub gpu_mem_used_mib: Option<f64>,
    pub speedup_vs_cpu_f32: Option<f64>,
    pub repeats: u64,
}

/// Runs every valid device × precision pair (CPU: f32 only) and returns one row each.
pub fn run_bench(job: &BenchJob) -> Result<Vec<BenchRow>, Error> {
    Invalid::at_least(Setting::Repeat, job.repeat, 1).map_err(crate::config::ConfigError::from)?;
    Invalid::at_least(Setting::K, job.k, 1).map_err(crate::config::ConfigError::from)?;
    if let Some(b) = job.batch_size {
        Invalid::at_least(Setting::BatchSize, b, 1).map_err(crate::config::ConfigError::from)?;
    }
    let texts = ArticleReader::texts(&job.inputs, &job.read, &job.text)?;
    if texts.is_empty() {
        return Err(Error::NoText {
            inputs: job.inputs.clone(),
        });
    }
    let profile = job.profile.then(|| Arc::new(Profile::new()));
    let mut rows = Vec::new();
    for &device in &job.devices {
        for &dtype in &job.dtypes {
            let loaded =
                LoadedModel::load_with(&job.model, &job.resolve, None, device, dtype, job.cuda);
            let mut model = match loaded {
                Ok(m) => m,
                Err(Error::Device(e)) if device != DeviceChoice::Cpu && job.devices.len() > 1 => {
                    tracing::warn!("skipping {device}/{}: {e}", dtype.name());
                    continue;
                }
                Err(Error::Device(e @ crate::device::DeviceError::Precision(_))) => {
                    tracing::warn!("skipping {device}/{}: {e}", dtype.name());
                    continue;
                }
                Err(e) => return Err(e),
            };
            model.set_pass(job.forward, job.attention, job.queue_batches);
            model.encoder.set_profile(profile.clone());
            rows.push(bench_one(job, &model, dtype, &texts)?);
            if let Some(profile) = &profile {
                eprintln!(
                    "forward-pass stages, {} {} (synchronised):\n{}",
                    model.encoder.device_name(),
                    dtype.name(),
                    profile.take_report()
                );
            }
        }
    }
    let base = rows
        .iter()
        .find(|r| r.device == "cpu" && r.dtype == "f32")
        .map(|r| r.docs_per_s);
    for r in &mut rows {
        r.speedup_vs_cpu_f32 = base.map(|b| r.docs_per_s / b);
    }
    if let Some(out) = &job.out {
        write_outputs(out, &rows)?;
    }
    Ok(rows)
}

fn bench_one(
    job: &BenchJob,
    model: &LoadedModel,
    dtype: Precision,
    texts: &[String],
) -> Result<BenchRow, Error> {
    let device = model.encoder.device().clone();
    let sync = |d: &candle_core::Device| {
        d.synchronize().map_err(|source| EmbedError::Compute {
            device: crate::device::describe(d),
            source,
        })
    };
    let batch_size = job
        .batch_size
        .unwrap_or_else(|| crate::pipeline::default_batch_size(&device));
    // Warm-up: kernels compiled and caches filled before timing.
    let warm = model
        .tokenizer
        .encode_all(&texts[..texts.len().min(batch_size)])?;
    let seqs: Vec<&[u32]> = warm.iter().map(|t| t.ids.as_slice()).collect();
    model.embed(&seqs)?;
    sync(&device)?;

    let mut best = (f64::MAX, f64::MAX);
    let mut vectors = Vec::new();
    let mut n_tokens = 0u64;
    for _ in 0..job.repeat {
        let t0 = Instant::now();
        let tokens = model.tokenizer.encode_all(texts)?;
        let tokenize = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        vectors = model.embed_tokens(&tokens, batch_size, job.cpu_workers, |_, _| {})?;
        sync(&device)?;
        let embed_s = t1.elapsed().as_secs_f64();
        if tokenize + embed_s < best.0 + best.1 {
            best = (tokenize, embed_s);
        }
        n_tokens = tokens.iter().map(|t| t.ids.len() as u64).sum();
    }
    let data = Matrix::new(vectors, model.encoder.dim()).expect("n × dim");
    let params = KMeansParams::new(1, 100, 1e-4, 42, None).expect("valid k-means settings");
    let place = if device.is_cpu() {
        kmeans::Place::Cpu
    } else {
        kmeans::Place::Device(&device, job.kmeans_kernels)
    };
    let t2 = Instant::now();
    kmeans::fit_on(&data, job.k.min(data.rows()), &params, place)?;
    sync(&device)?;
    let cluster_s = t2.elapsed().as_secs_f64();
    let docs = texts.len() as u64;
    let secs = best.0 + best.1;
    Ok(BenchRow {
        device: model.encoder.device_name(),
        dtype: dtype.name().into(),
        forward: forward_name(model),
        batch_size: batch_size as u64,
        docs,
        tokens: n_tokens,
        tokenize_s: best.0,
        embed_s: best.1,
        cluster_s,
        docs_per_s: docs as f64 / secs,
        embed_docs_per_s: docs as f64 / best.1,
        tokens_per_s: n_tokens as f64 / secs,
        peak_rss_mib: peak_rss_mib(),
        gpu_mem_used_mib: gpu_mem_used_mib(&device),
        speedup_vs_cpu_f32: None,
        repeats: job.repeat as u64,
    })
}

/// The process's peak resident memory (VmHWM), MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// GPU memory in use on the device after the run (total − free, all processes), MiB.
#[cfg(feature = "cuda")]
fn gpu_mem_used_mib(device: &candle_core::Device) -> Option<f64> {
    if device.is_cpu() {
        return None;
    }
    candle_core::cuda_backend::cudarc::driver::result::mem_get_info()
        .ok()
        .map(|(free, total)| (total - free) as f64 / (1024.0 * 1024.0))
}

#[cfg(not(feature = "cuda"))]
fn gpu_mem_used_mib(_device: &candle_core::Device) -> Option<f64> {
    None
}

/// The table printed by the command.
pub fn table(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<8} {:<5} {:<6} {:>6} {:>7} {:>9} {:>12} {:>10} {:>12} {:>9} {:>10} {:>10} {:>9} {:>8}\n",
        "device",
        "dtype",
        "pass",
        "batch",
        "docs",
        "docs/s",
        "embed docs/s",
        "tokens/s",
        "tokenize s",
        "embed s",
        "cluster s",
        "RSS MiB",
        "GPU MiB",
        "speedup"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<8} {:<5} {:<6} {:>6} {:>7} {:>9.1} {:>12.1} {:>10.0} {:>12.3} {:>9.3} {:>10.3} {:>10.0} {:>9} {:>8}\n",
            r.device,
            r.dtype,
            r.forward,
            r.batch_size,
            r.docs,
            r.docs_per_s,
            r.embed_docs_per_s,
            r.tokens_per_s,
            r.tokenize_s,
            r.embed_s,
            r.cluster_s,
            r.peak_rss_mib,
            r.gpu_mem_used_mib
                .map_or("-".to_string(), |m| format!("{m:.0}")),
            r.speedup_vs_cpu_f32
                .map_or("-".to_string(), |s| format!("{s:.2}x")),
        ));
    }
    out
}

fn write_outputs(out: &std::path::Path, rows: &[BenchRow]) -> Result<(), WriteError> {
    let err = |e: &dyn std::fmt::Display| WriteError::new(out, e.to_string());
    let f64s = |f: &dyn Fn(&BenchRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        (
            "device",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.device.as_str()),
            )),
        ),
        (
            "dtype",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.dtype.as_str()),
            )),
        ),
        (
            "forward",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.forward.as_str()),
            )),
        ),
        (
            "batch_size",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.batch_size),
            )),
        ),
        (
            "docs",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.docs))),
        ),
        (
            "tokens",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.tokens))),
        ),
        ("tokenize_s", f64s(&|r| Some(r.tokenize_s))),
        ("embed_s", f64s(&|r| Some(r.embed_s))),
        ("cluster_s", f64s(&|r| Some(r.cluster_s))),
        ("docs_per_s", f64s(&|r| Some(r.docs_per_s))),
        ("embed_docs_per_s", f64s(&|r| Some(r.embed_docs_per_s))),
        ("tokens_per_s", f64s(&|r| Some(r.tokens_per_s))),
        ("peak_rss_mib", f64s(&|r| Some(r.peak_rss_mib))),
        ("gpu_mem_used_mib", f64s(&|r| r.gpu_mem_used_mib)),
        ("speedup_vs_cpu_f32", f64s(&|r| r.speedup_vs_cpu_f32)),
        (
            "repeats",
            Arc::new(UInt64Array::from_iter_values(
                rows.iter().map(|r| r.repeats),
            )),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).map_err(|e| err(&e))?;
    let (guard, file) = AtomicFile::create(out).map_err(|e| err(&e))?;
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).map_err(|e| err(&e))?;
    w.write(&batch).map_err(|e| err(&e))?;
    w.into_inner().map_err(|e| err(&e))?;
    let json_path = out.with_extension("json");
    let (json_guard, json_file) = AtomicFile::create(&json_path).map_err(|e| err(&e))?;
    serde_json::to_writer_pretty(json_file, rows).map_err(|e| err(&e))?;
    guard.commit().map_err(|e| err(&e))?;
    json_guard.commit().map_err(|e| err(&e))?;
    Ok(())
}

/// How the forward pass ran, for the `forward` column.
fn forward_name(model: &LoadedModel) -> String {
    let enc = &model.encoder;
    let pass = if enc.uses_tensor_cores() {
        "packed-tc"
    } else if enc.is_packed() {
        "packed"
    } else {
        "padded"
    };
    if enc.overlaps() && !enc.device().is_cpu() {
        format!("{pass}+queued")
    } else {
        pass.to_string()
    }
}
