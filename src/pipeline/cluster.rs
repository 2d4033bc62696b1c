//! The clustering job: embeddings file → clusters → named topics → `documents.parquet`,
//! `topics.parquet` and `run.json` in an output folder.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::{LoadedModel, ModelParts, PipelineError};
use crate::cluster::{
    self, Algorithm, Assignments, Clusterer, HdbscanClusterer, HdbscanParams, KMeansClusterer,
    KMeansParams,
};
use crate::device::{DeviceChoice, Precision};
use crate::embed::Embedder;
use crate::io::embeddings_in::{self, EmbeddedDocs};
use crate::io::topics_out::{self, Staged};
use crate::matrix::Matrix;
use crate::model::ResolveOptions;
use crate::topics::{self, TopicParams};

/// `--k N` or `--k auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KChoice {
    Fixed(usize),
    /// Silhouette over `min..=max` on a sample.
    Auto {
        min: usize,
        max: usize,
    },
}

impl std::str::FromStr for KChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "auto" {
            return Ok(KChoice::Auto { min: 2, max: 40 });
        }
        s.trim()
            .parse()
            .map(KChoice::Fixed)
            .map_err(|_| format!("--k takes a number or 'auto', not '{s}'"))
    }
}

/// Everything `newsclust cluster` needs.
#[derive(Clone, Debug)]
pub struct ClusterJob {
    /// `embed` outputs (or folders of them), clustered together.
    pub embeddings: Vec<PathBuf>,
    pub out_dir: PathBuf,
    pub algorithm: Algorithm,
    pub k: KChoice,
    pub n_init: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
    /// Mini-batch k-means with this many rows per step (default: on past 100,000 articles).
    pub mini_batch: Option<usize>,
    pub min_cluster_size: usize,
    pub min_samples: Option<usize>,
    pub reduce_dims: Option<usize>,
    /// HDBSCAN: no topic may hold more than this share of the articles.
    pub max_cluster_share: f64,
    pub reassign_outliers: bool,
    pub outlier_threshold: f32,
    pub labels_file: Option<PathBuf>,
    /// More stop words for keywords, one per line.
    pub stop_words_file: Option<PathBuf>,
    pub label_threshold: f32,
    pub with_embeddings: bool,
    pub topics: TopicParams,
    /// When set, the embeddings must come from this model (and its dimension).
    pub model: Option<String>,
    pub resolve: ResolveOptions,
    pub device: DeviceChoice,
}

impl ClusterJob {
    pub fn new(embeddings: impl Into<PathBuf>, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            embeddings: vec![embeddings.into()],
            out_dir: out_dir.into(),
            algorithm: Algorithm::Kmeans,
            k: KChoice::Auto { min: 2, max: 40 },
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            mini_batch: None,
            min_cluster_size: 15,
            min_samples: None,
            reduce_dims: Some(10),
            max_cluster_share: 0.3,
            reassign_outliers: true,
            outlier_threshold: 0.1,
            labels_file: None,
            stop_words_file: None,
            label_threshold: 0.3,
            with_embeddings: false,
            topics: TopicParams::default(),
            model: None,
            resolve: ResolveOptions::from_env(),
            device: DeviceChoice::Auto,
        }
    }

    /// Checks what can be checked before the data is there: the parameters and the label and
    /// stop-word files. `run` calls it before embedding, so a bad flag fails at once.
    pub fn check(&self) -> Result<(), PipelineError> {
        match self.algorithm {
            Algorithm::Kmeans => {
                let k = match self.k {
                    KChoice::Fixed(k) => k,
                    KChoice::Auto { .. } => 2,
                };
                KMeansParams::new(
                    k,
                    self.n_init,
                    self.max_iter,
                    self.tol,
                    self.seed,
                    self.mini_batch,
                )?;
            }
            Algorithm::Hdbscan => {
                HdbscanParams::new(
                    self.min_cluster_size,
                    self.min_samples,
                    self.reduce_dims,
                    self.max_cluster_share,
                    self.seed,
                )?;
            }
        }
        if let Some(path) = &self.labels_file {
            read_lines(path, "labels")?;
        }
        if let Some(path) = &self.stop_words_file {
            read_lines(path, "stop words")?;
        }
        Ok(())
    }
}

/// What a clustering job did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClusterSummary {
    pub documents: usize,
    pub topics: usize,
    pub unassigned: usize,
    pub reassigned: usize,
    pub k_scores: Vec<cluster::KScore>,
    /// Where k-means ran.
    pub device: String,
    pub seconds_cluster: f64,
    pub seconds_topics: f64,
    pub seconds_write: f64,
    pub files: Vec<PathBuf>,
    /// Documents whose id an earlier document has (kept; warned about).
    pub duplicate_ids: usize,
}

/// Rows past which k-means switches to mini-batches unless told otherwise.
const MINI_BATCH_FROM: usize = 100_000;
/// Rows scored by `--k auto`.
const AUTO_K_SAMPLE: usize = 2_000;

/// Runs `newsclust cluster`. `extra` is merged into `run.json` (the `run` command adds the embed stage).
pub fn run_cluster(
    job: &ClusterJob,
    extra: serde_json::Value,
) -> Result<ClusterSummary, PipelineError> {
    let t0 = Instant::now();
    job.check()?;
    let docs = embeddings_in::read_all(&job.embeddings)
        .map_err(|e| PipelineError::Config(e.to_string()))?;
    let named = || {
        let names: Vec<String> = job
            .embeddings
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.join(", ")
    };
    if docs.is_empty() {
        return Err(PipelineError::Config(format!(
            "{}: no documents to cluster",
            named()
        )));
    }
    let duplicate_ids = warn_duplicate_ids(&docs.ids);
    let meta = |k: &str| docs.metadata.get(k).cloned().unwrap_or_default();
    // Candidate labels are read before the work, so a bad file fails fast.
    let candidates = match &job.labels_file {
        Some(path) => Some(read_lines(path, "labels")?),
        None => None,
    };
    let mut topic_params = job.topics.clone();
    if let Some(path) = &job.stop_words_file {
        topic_params.extra_stop_words.extend(
            read_lines(path, "stop words")?
                .into_iter()
                .map(|w| w.to_lowercase()),
        );
    }
    // One device for the model (guided labels, --model check) and for k-means.
    let device = job.device.open()?;
    let model = match (&job.model, &candidates) {
        (None, None) => None,
        (spec, _) => {
            let spec = spec.clone().unwrap_or_else(|| meta(super::meta::MODEL_ID));
            let parts = ModelParts::resolve(&spec, &job.resolve, None)?;
            Some(LoadedModel::from_parts(parts, &device, Precision::F32)?)
        }
    };
    if let (Some(m), Some(_)) = (&model, &job.model) {
        let (want_id, want_dim) = (m.files.id.as_str(), m.encoder.dim());
        let (got_id, got_dim) = (meta(super::meta::MODEL_ID), docs.embeddings.dim());
        if got_id != want_id || got_dim != want_dim {
            return Err(PipelineError::Config(format!(
                "{}: made with model '{got_id}' ({got_dim}-d), but --model is '{want_id}' ({want_dim}-d); embed again or drop --model",
                named()
            )));
        }
    }
    let mut data = docs.embeddings.clone();
    data.normalize_rows();

    // k-means runs on the GPU when the device is one; everything else here is CPU work.
    let gpu = (!device.is_cpu()).then_some(&device);
    let (mut assignments, k_scores) = cluster_rows(job, &data, gpu)?;
    let reassigned = if job.reassign_outliers && job.algorithm == Algorithm::Hdbscan {
        cluster::reassign_outliers(&data, &mut assignments, job.outlier_threshold)
    } else {
        0
    };
    let seconds_cluster = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let texts: Vec<String> = docs
        .titles
        .iter()
        .zip(&docs.texts)
        .map(|(t, x)| format!("{t}. {x}"))
        .collect();
    let guided = match (&candidates, &model) {
        (Some(c), Some(m)) => Some((c.clone(), embed_labels(m, c)?)),
        _ => None,
    };
    let model_topics = topics::build(
        &texts,
        &data,
        &assignments,
        &topic_params,
        guided
            .as_ref()
            .map(|(c, v)| (c.as_slice(), v, job.label_threshold)),
    );
    let seconds_topics = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let mut summary = ClusterSummary {
        documents: docs.len(),
        topics: assignments.topics,
        unassigned: assignments.unassigned(),
        reassigned,
        k_scores,
        device: match (gpu, job.algorithm) {
            (Some(d), Algorithm::Kmeans) => crate::device::describe(d),
            _ => "cpu".to_string(),
        },
        seconds_cluster,
        seconds_topics,
        seconds_write: 0.0,
        files: Vec::new(),
        duplicate_ids,
    };
    let metadata = output_metadata(&docs, job);
    let mut staged = Staged::new();
    let dir = &job.out_dir;
    let werr = |e: topics_out::TopicsWriteError| PipelineError::Config(e.to_string());
    topics_out::write_documents(
        &dir.join("documents.parquet"),
        &docs,
        &assignments.labels,
        &model_topics,
        job.with_embeddings,
        &metadata,
        &mut staged,
    )
    .map_err(werr)?;
    topics_out::write_topics(
        &dir.join("topics.parquet"),
        &docs,
        &model_topics,
        &metadata,
        &mut staged,
    )
    .map_err(werr)?;
    summary.seconds_write = t2.elapsed().as_secs_f64();
    let run = run_json(job, &docs, &summary, extra);
    topics_out::write_json(&dir.join("run.json"), &run, &mut staged).map_err(werr)?;
    summary.files = staged.commit().map_err(werr)?;
    for t in &model_topics.topics {
        tracing::info!(
            "topic {:>3} {:>6} docs  {}  [{}]",
            t.id,
            t.size,
            t.label,
            t.keywords
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(summary)
}

fn cluster_rows(
    job: &ClusterJob,
    data: &Matrix,
    gpu: Option<&candle_core::Device>,
) -> Result<(Assignments, Vec<cluster::KScore>), PipelineError> {
    let n = data.rows();
    if let KChoice::Fixed(k) = job.k {
        if job.algorithm == Algorithm::Kmeans && k > n {
            return Err(cluster::ClusterError::TooFewPoints { k, n }.into());
        }
    }
    // Documented fallback: identical embeddings cannot be split; they make one topic.
    if (1..n).all(|i| data.row(i) == data.row(0)) {
        tracing::warn!("all {n} embeddings are identical: one topic");
        return Ok((Assignments::from_labels(vec![Some(0); n]), Vec::new()));
    }
    match job.algorithm {
        Algorithm::Kmeans => {
            let mini_batch = job.mini_batch.or((n >= MINI_BATCH_FROM).then_some(4096));
            let base = KMeansParams::new(
                2.min(n.max(1)),
                job.n_init,
                job.max_iter,
                job.tol,
                job.seed,
                mini_batch,
            )?;
            let (k, scores) = match job.k {
                KChoice::Fixed(k) => (k, Vec::new()),
                KChoice::Auto { min, max } => {
                    let quick = KMeansParams::new(
                        2,
                        job.n_init.min(3),
                        job.max_iter,
                        job.tol,
                        job.seed,
                        None,
                    )?;
                    let (k, scores) = cluster::choose_k(data, min..=max, AUTO_K_SAMPLE, &quick)?;
                    for s in &scores {
                        tracing::info!("k auto: k = {:>2}  silhouette {:.4}", s.k, s.silhouette);
                    }
                    tracing::info!("k auto: chose k = {k} (highest mean silhouette, cosine distance, {} sampled articles)", AUTO_K_SAMPLE.min(n));
                    (k, scores)
                }
            };
            let a = KMeansClusterer(base.with_k(k)?, gpu.cloned()).cluster(data)?;
            Ok((a, scores))
        }
        Algorithm::Hdbscan => {
            let params = HdbscanParams::new(
                job.min_cluster_size,
                job.min_samples,
                job.reduce_dims,
                job.max_cluster_share,
                job.seed,
            )?;
            let mut a = HdbscanClusterer(params).cluster(data)?;
            if a.topics == 0 {
                tracing::warn!("HDBSCAN found no cluster (all {n} articles are noise); putting them all in one topic");
                a = Assignments::from_labels(vec![Some(0); n]);
            }
            Ok((a, Vec::new()))
        }
    }
}

/// Non-empty lines of a text file, `#` comments left out; `what` names the file in errors.
fn read_lines(path: &std::path::Path, what: &str) -> Result<Vec<String>, PipelineError> {
    let err = |m: String| PipelineError::Config(format!("{}: {what} file {m}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot be read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| err(format!("is not UTF-8 text ({e})")))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if lines.is_empty() {
        return Err(err("has no entries (one per line)".into()));
    }
    Ok(lines)
}

fn embed_labels(model: &LoadedModel, labels: &[String]) -> Result<Matrix, PipelineError> {
    let tokens = model.tokenizer.encode_all(labels)?;
    let seqs: Vec<&[u32]> = tokens.iter().map(|t| t.ids.as_slice()).collect();
    let values = model.encoder.embed(&seqs)?;
    let mut m = Matrix::new(values, model.encoder.dim())
        .ok_or_else(|| PipelineError::Config("label embeddings".into()))?;
    m.normalize_rows();
    Ok(m)
}

fn output_metadata(docs: &EmbeddedDocs, job: &ClusterJob) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = docs
        .metadata
        .iter()
        .filter(|(k, _)| k.starts_with("newsclust.model") || k.as_str() == super::meta::DIMENSION)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    out.push(("newsclust.version".into(), crate::VERSION.into()));
    out.push((
        "newsclust.algorithm".into(),
        format!("{:?}", job.algorithm).to_lowercase(),
    ));
    out.push(("newsclust.seed".into(), job.seed.to_string()));
    out
}

/// Counts the documents whose id an earlier one has, and warns once when there are any: they are
/// all clustered and written (an `embed` output never has any; files from elsewhere, or several
/// inputs that overlap, may), but a join on `id` would match several rows.
fn warn_duplicate_ids(ids: &[String]) -> usize {
    let mut first = std::collections::HashMap::with_capacity(ids.len());
    let mut count = 0;
    let mut example = None;
    for (row, id) in ids.iter().enumerate() {
        if let Some(&earlier) = first.get(id.as_str()) {
            count += 1;
            example.get_or_insert((id, earlier, row));
        } else {
            first.insert(id.as_str(), row);
        }
    }
    if let Some((id, a, b)) = example {
        tracing::warn!(
            "{count} documents have the id of an earlier one (the first: '{id}', rows {a} and {b} of the input, counted from 0); all are kept, so a join on id matches several rows"
        );
    }
    count
}

fn run_json(
    job: &ClusterJob,
    docs: &EmbeddedDocs,
    s: &ClusterSummary,
    extra: serde_json::Value,
) -> serde_json::Value {
    let meta = |k: &str| docs.metadata.get(k).cloned();
    let mut v = json!({
        "newsclust_version": crate::VERSION,
        "model": {
            "id": meta(super::meta::MODEL_ID),
            "revision": meta(super::meta::MODEL_REVISION),
            "dimension": docs.embeddings.dim(),
            "pooling": meta(super::meta::POOLING),
            "max_length": meta(super::meta::MAX_LENGTH),
        },
        "embedding_device": meta(super::meta::DEVICE),
        "cluster_device": s.device,
        "config": {
            "embeddings": job.embeddings,
            "algorithm": job.algorithm,
            "k": match job.k { KChoice::Fixed(k) => json!(k), KChoice::Auto { min, max } => json!({"auto": [min, max]}) },
            "n_init": job.n_init,
            "max_iter": job.max_iter,
            "tol": job.tol,
            "seed": job.seed,
            "mini_batch": job.mini_batch,
            "min_cluster_size": job.min_cluster_size,
            "min_samples": job.min_samples,
            "reduce_dims": job.reduce_dims,
            "max_cluster_share": job.max_cluster_share,
            "reassign_outliers": job.reassign_outliers,
            "outlier_threshold": job.outlier_threshold,
            "labels_file": job.labels_file,
            "stop_words_file": job.stop_words_file,
            "label_threshold": job.label_threshold,
            "top_keywords": job.topics.top_keywords,
            "min_df": job.topics.min_df,
        },
        "counts": {
            "documents": s.documents,
            "topics": s.topics,
            "unassigned": s.unassigned,
            "reassigned_outliers": s.reassigned,
            "duplicate_ids": s.duplicate_ids,
        },
        "k_scores": s.k_scores,
        "seconds": {
            "cluster": s.seconds_cluster,
            "topics": s.seconds_topics,
            "write": s.seconds_write,
        },
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        for (k, val) in more {
            match (obj.get_mut(&k), val) {
                (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => a.extend(b),
                (_, val) => {
                    obj.insert(k, val);
                }
            }
        }
    }
    v
}
