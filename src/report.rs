//! What a run did, as typed data: [`EmbedSummary`] for the embedding job and [`RunReport`] for
//! a whole `run` / `cluster`, whose serialization is `run.json` (written in one place,
//! `pipeline::cluster_job`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::cluster::KScore;
use crate::config::{ClusteringConfig, EmbedConfig, TopicConfig, ValidCluster};
use crate::io::format::meta;
use crate::topics::Topic;

/// What `run` and `cluster` found: the named topics, each document's topic, and the report
/// that `run.json` holds.
#[derive(Clone, Debug)]
pub struct TopicRun {
    /// Largest first; `Topic::representatives` are rows, see `ids`.
    pub topics: Vec<Topic>,
    /// Each document's topic (`None`: unassigned noise), in input order. Empty when the
    /// clustering streamed (`summary.streamed`): then they are in documents.parquet only.
    pub assignments: Vec<Option<usize>>,
    /// Each document's cosine similarity to its topic's centroid (empty when streamed).
    pub similarity: Vec<Option<f32>>,
    /// The documents' ids, in input order (empty when streamed).
    pub ids: Vec<String>,
    pub summary: ClusterSummary,
    pub report: RunReport,
    /// The files written (documents.parquet, topics.parquet, run.json).
    pub files: Vec<PathBuf>,
}

/// What a finished embedding job did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EmbedSummary {
    /// The files read, folders expanded, in reading order.
    pub input_files: Vec<PathBuf>,
    pub read: u64,
    /// Rows written to the output (those kept from a checkpoint included).
    pub embedded: u64,
    /// Of those, rows kept from an earlier run's checkpoint (`--resume`), not embedded again.
    pub resumed: u64,
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

/// What the clustering half of a run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClusterSummary {
    pub documents: usize,
    pub topics: usize,
    pub unassigned: usize,
    pub reassigned: usize,
    pub k_scores: Vec<KScore>,
    /// Where k-means ran.
    pub device: String,
    pub seconds_cluster: f64,
    pub seconds_topics: f64,
    pub seconds_write: f64,
    /// Documents whose id an earlier document has (kept; warned about).
    pub duplicate_ids: usize,
    /// How the vectors were read in passes, when they were ([`crate::config::StreamChoice`]).
    pub streamed: Option<Streamed>,
}

/// A streamed clustering: its sample, its passes over all rows and their last centre shift.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Streamed {
    pub sample_rows: usize,
    /// Lloyd passes over all rows (the gathering and writing passes not counted).
    pub passes: usize,
    pub last_shift: f64,
    /// The tolerance the shift was held to (--tol scaled by the sample's variance).
    pub tolerance: f64,
    pub seconds_sample: f64,
    pub seconds_passes: f64,
}

/// `run.json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub newsclust_version: String,
    pub model: ModelReport,
    pub embedding_device: Option<String>,
    pub cluster_device: String,
    pub config: ConfigReport,
    pub counts: Counts,
    pub k_scores: Vec<KScore>,
    pub seconds: Seconds,
    /// The vectors were read in passes, not held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streamed: Option<Streamed>,
    /// The documents' dates, when they have a date column: read, unreadable, missing, bins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dates: Option<crate::topics::over_time::DateCounts>,
}

/// The model, as the embeddings' metadata names it.
#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub id: Option<String>,
    pub revision: Option<String>,
    pub dimension: usize,
    pub pooling: Option<String>,
    pub max_length: Option<String>,
}

/// The configuration: the clustering and topic settings as given, after the input's for `run`.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigReport {
    /// `run` only: how the input was read and embedded.
    #[serde(flatten)]
    pub embed: Option<EmbedConfigReport>,
    pub embeddings: Vec<PathBuf>,
    /// `--reduce-to`: the earlier output merged and the topics it was merged down to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduce: Option<ReduceReport>,
    #[serde(flatten)]
    pub clustering: ClusteringConfig,
    #[serde(flatten)]
    pub topics: TopicConfig,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReduceReport {
    pub from: PathBuf,
    pub to: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EmbedConfigReport {
    /// The inputs as given.
    pub input: Vec<PathBuf>,
    /// The files read, folders expanded.
    pub input_files: Vec<PathBuf>,
    pub model: String,
    pub batch_size: usize,
    pub device: String,
    pub dtype: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Counts {
    #[serde(flatten)]
    pub embed: Option<EmbedCounts>,
    pub documents: usize,
    pub topics: usize,
    pub unassigned: usize,
    pub reassigned_outliers: usize,
    pub duplicate_ids: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EmbedCounts {
    pub read: u64,
    pub skipped: u64,
    pub embedded: u64,
    pub truncated: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Seconds {
    pub cluster: f64,
    pub topics: f64,
    pub write: f64,
    #[serde(flatten)]
    pub embed: Option<EmbedSeconds>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EmbedSeconds {
    pub load: f64,
    pub device: f64,
    pub weights: f64,
    pub tokenize: f64,
    pub embed: f64,
    pub write_wait: f64,
    pub input_wait: f64,
    pub embed_stage_total: f64,
}

/// The embedding half of a `run`, for its report.
pub struct EmbedPart<'a> {
    pub config: &'a EmbedConfig,
    pub summary: &'a EmbedSummary,
}

impl RunReport {
    /// The report of clustering documents of `dimension`-value vectors whose files have
    /// `metadata` as `config` says (after `embed`, for `run`).
    pub fn new(
        config: &ValidCluster,
        metadata: &HashMap<String, String>,
        dimension: usize,
        summary: &ClusterSummary,
        embed: Option<EmbedPart<'_>>,
    ) -> Self {
        let meta = |k: &str| metadata.get(k).cloned();
        Self {
            newsclust_version: crate::VERSION.to_string(),
            model: ModelReport {
                id: meta(meta::MODEL_ID),
                revision: meta(meta::MODEL_REVISION),
                dimension,
                pooling: meta(meta::POOLING),
                max_length: meta(meta::MAX_LENGTH),
            },
            embedding_device: meta(meta::DEVICE),
            cluster_device: summary.device.clone(),
            config: ConfigReport {
                embed: embed.as_ref().map(|e| EmbedConfigReport {
                    input: e.config.input.paths.clone(),
                    input_files: e.summary.input_files.clone(),
                    model: e.config.model.model.clone(),
                    batch_size: e.summary.batch_size,
                    device: e.config.compute.device.to_string(),
                    dtype: e.config.compute.precision.name().to_string(),
                }),
                embeddings: config.given.embeddings.clone(),
                reduce: config.given.reduce.as_ref().map(|r| ReduceReport {
                    from: r.from.clone().unwrap_or_else(|| config.given.out.clone()),
                    to: r.to,
                }),
                clustering: config.clustering.config().clone(),
                topics: config.topics.config().clone(),
            },
            counts: Counts {
                embed: embed.as_ref().map(|e| EmbedCounts {
                    read: e.summary.read,
                    skipped: e.summary.skipped,
                    embedded: e.summary.embedded,
                    truncated: e.summary.truncated,
                }),
                documents: summary.documents,
                topics: summary.topics,
                unassigned: summary.unassigned,
                reassigned_outliers: summary.reassigned,
                duplicate_ids: summary.duplicate_ids,
            },
            k_scores: summary.k_scores.clone(),
            streamed: summary.streamed.clone(),
            dates: None,
            seconds: Seconds {
                cluster: summary.seconds_cluster,
                topics: summary.seconds_topics,
                write: summary.seconds_write,
                embed: embed.as_ref().map(|e| {
                    let s = e.summary;
                    EmbedSeconds {
                        load: s.load_seconds,
                        device: s.device_seconds,
                        weights: s.weights_seconds,
                        tokenize: s.tokenize_seconds,
                        embed: s.embed_seconds,
                        write_wait: s.write_wait_seconds,
                        input_wait: s.input_wait_seconds,
                        embed_stage_total: s.total_seconds,
                    }
                }),
            },
        }
    }
}
