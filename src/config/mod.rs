//! What a run is told: plain structs with the command line's defaults, checked once
//! ([`RunConfig::check`], [`EmbedConfig::check`], [`ClusterConfig::check`]) into `Valid*` types
//! that the stages take as they are, never checking or rebuilding them again (linfa's
//! `ParamGuard` → `*ValidParams` is the model). Checking also reads the label and stop-word
//! files, so `run` fails on a bad one before any embedding work.

mod check;
mod outputs;

use std::path::PathBuf;

pub use check::{
    ConfigError, ListKind, ListProblem, ValidCluster, ValidClustering, ValidEmbed, ValidRun,
    ValidTopics,
};

use crate::cluster::{Algorithm, KChoice, KMeansKernels};
use crate::device::{CudaOptions, DeviceChoice, Precision};
use crate::embed::{AttentionKernel, Forward};
use crate::io::embeddings_out::WriteSync;
use crate::io::{ReadOptions, TextSpec};
use crate::model::ResolveOptions;

/// The model `newsclust` uses unless told otherwise.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Which articles to read and what text of theirs to embed.
#[derive(Clone, Debug, Default)]
pub struct InputConfig {
    /// Files and folders, read in this order as one input (see [`crate::io::input_files`]).
    pub paths: Vec<PathBuf>,
    pub read: ReadOptions,
    /// The text embedded and searched for keywords.
    pub text: TextSpec,
    /// Any bad record is a fatal error instead of a counted skip.
    pub strict: bool,
}

impl InputConfig {
    /// One file or folder, read with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            paths: vec![path.into()],
            ..Self::default()
        }
    }
}

/// Which model embeds, and where to find it.
#[derive(Clone, Debug)]
pub struct ModelSettings {
    /// A sentence-transformers folder, or a hub id `org/name[@revision]`.
    pub model: String,
    pub resolve: ResolveOptions,
    /// Tokens per text (default: the model's max_seq_length).
    pub max_length: Option<usize>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.to_string(),
            resolve: ResolveOptions::default(),
            max_length: None,
        }
    }
}

/// Where and how the model computes.
#[derive(Clone, Debug)]
pub struct ComputeConfig {
    pub device: DeviceChoice,
    /// Precision of the model on a GPU (the CPU computes in f32).
    pub precision: Precision,
    /// Texts per forward pass; `None`: 16 on the CPU, 1,024 on a GPU.
    pub batch_size: Option<usize>,
    pub forward: Forward,
    /// The packed pass's attention kernel on CUDA in f16/bf16.
    pub attention: AttentionKernel,
    /// On a GPU, queue the next batch before the last one is back (1.14× the embedding stage
    /// in f16 on an H100).
    pub queue_batches: bool,
    /// Batches embedded side by side on the CPU, one per thread (see
    /// [`crate::device::configure_cpu_workers`]).
    pub cpu_workers: usize,
    pub cuda: CudaOptions,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            device: DeviceChoice::Auto,
            precision: Precision::F32,
            batch_size: None,
            forward: Forward::Auto,
            attention: AttentionKernel::default(),
            queue_batches: true,
            cpu_workers: 1,
            cuda: CudaOptions::default(),
        }
    }
}

/// `newsclust embed`: articles in, one Parquet file of vectors out.
#[derive(Clone, Debug, Default)]
pub struct EmbedConfig {
    pub input: InputConfig,
    pub model: ModelSettings,
    pub compute: ComputeConfig,
    pub out: PathBuf,
    pub write_sync: WriteSync,
    /// Checkpoint each finished row group and go on from an earlier run's checkpoint of the
    /// same job (see [`crate::io::checkpoint`]).
    pub resume: bool,
    /// Rows per row group of the output (and per checkpoint); `None`: 8,192.
    pub row_group_rows: Option<usize>,
    /// One shard of the input: `out` is then a prefix (folder) that gets
    /// `part-IIIII-of-NNNNN.parquet` (see [`crate::io::shard`]).
    pub shard: Option<ShardChoice>,
}

/// Which shard a job is: given, or from the scheduler's array-job variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardChoice {
    Fixed(crate::io::shard::Shard),
    /// Index (and count, unless given) from `JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_*` or
    /// `SLURM_ARRAY_TASK_*`, read when the configuration is checked.
    Auto {
        count: Option<u32>,
    },
}

/// Whether `cluster` holds every vector in memory or reads them in passes (k-means only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum StreamChoice {
    /// Stream when the vectors take more than 1 GiB (about 700,000 of 384 values), k-means only.
    #[default]
    Auto,
    /// Always stream (k-means only).
    On,
    /// Never: every vector in memory.
    Off,
}

impl StreamChoice {
    pub fn name(self) -> &'static str {
        match self {
            StreamChoice::Auto => "auto",
            StreamChoice::On => "on",
            StreamChoice::Off => "off",
        }
    }

    /// Vectors of more bytes than this stream under `auto`.
    pub const AUTO_FROM_BYTES: u64 = 1 << 30;
}

/// How the vectors are clustered.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClusteringConfig {
    pub algorithm: Algorithm,
    /// k-means: the number of topics, or chosen from fine fits' topic trees (`cluster::auto_k`).
    pub k: KChoice,
    /// k-means: restarts from new k-means++ seeds; the lowest inertia wins.
    pub n_init: usize,
    /// k-means: iterations at most (mini-batch: passes over the data).
    pub max_iter: usize,
    /// k-means: stop when centres move less than this (relative to the data's variance).
    pub tol: f64,
    /// The same input and seed give the same topics.
    pub seed: u64,
    /// k-means: rows per mini-batch (default: 4,096 from 100,000 articles on, else full batch).
    pub mini_batch: Option<usize>,
    /// k-means: read the vectors in passes instead of holding them ([`StreamChoice`]).
    pub stream: StreamChoice,
    /// Streaming k-means: Lloyd passes over all rows at most, after the fit on a sample.
    pub passes: usize,
    /// Streaming k-means: rows in the sample fitted first (about this many, drawn by row).
    pub stream_sample: usize,
    /// HDBSCAN: smallest topic.
    pub min_cluster_size: usize,
    /// HDBSCAN: neighbours for core distances (default: `min_cluster_size`).
    pub min_samples: Option<usize>,
    /// HDBSCAN: PCA to this many dimensions first (`None`: no reduction).
    pub reduce_dims: Option<usize>,
    /// HDBSCAN: no topic may hold more than this share of the articles (1: no limit).
    pub max_cluster_share: f64,
    /// HDBSCAN: give noise articles the nearest topic when similar enough.
    pub reassign_outliers: bool,
    /// Cosine similarity to a topic centroid needed to reassign a noise article.
    pub outlier_threshold: f32,
    /// k-means on a GPU: our kernels or candle's ops.
    pub kmeans_kernels: KMeansKernels,
}

impl Default for ClusteringConfig {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Kmeans,
            k: KChoice::AUTO,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 42,
            mini_batch: None,
            stream: StreamChoice::Auto,
            passes: 10,
            stream_sample: 65_536,
            min_cluster_size: 15,
            min_samples: None,
            reduce_dims: Some(10),
            max_cluster_share: 0.3,
            reassign_outliers: true,
            outlier_threshold: 0.1,
            kmeans_kernels: KMeansKernels::default(),
        }
    }
}

/// How topics are named and what is written about them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TopicConfig {
    /// Keywords per topic.
    pub top_keywords: usize,
    /// A keyword must occur in at least this many documents.
    pub min_df: usize,
    /// Representative documents per topic.
    pub representatives: usize,
    /// Candidate labels, one per line; a topic takes the most similar one above
    /// `label_threshold`.
    pub labels_file: Option<PathBuf>,
    /// More stop words for keywords, one per line.
    pub stop_words_file: Option<PathBuf>,
    /// Cosine similarity between a candidate label and a topic centroid needed to use it.
    pub label_threshold: f32,
    /// How topics are named: phrases and themes (needs the model), or keywords only.
    pub naming: NamingMode,
    /// Where themes come from.
    pub themes: ThemesFrom,
    /// Cosine similarity between a theme's description and a topic centroid needed to use it.
    pub theme_threshold: f32,
    /// Add each document's vector to documents.parquet.
    pub with_embeddings: bool,
    /// Periods of topics_over_time.parquet; `None`: chosen from the dates' span.
    pub time_bins: Option<crate::topics::dates::TimeBins>,
}

/// How topics are named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum NamingMode {
    /// A phrase, a theme and a label of at most four words from them, embedded with the model.
    #[default]
    Phrases,
    /// c-TF-IDF keywords and a label of the best two (no model needed).
    Keywords,
}

/// Where themes come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemesFrom {
    /// newsclust's own list (`src/topics/vocab/themes.txt`).
    #[default]
    Builtin,
    /// A file of `name: description` lines.
    File(PathBuf),
    /// No themes.
    None,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            top_keywords: 10,
            min_df: 2,
            representatives: 3,
            labels_file: None,
            stop_words_file: None,
            label_threshold: 0.3,
            naming: NamingMode::default(),
            themes: ThemesFrom::default(),
            theme_threshold: crate::topics::theme::DEFAULT_THRESHOLD,
            with_embeddings: false,
            time_bins: None,
        }
    }
}

/// `newsclust cluster`: `embed` outputs in, named topics out.
#[derive(Clone, Debug, Default)]
pub struct ClusterConfig {
    /// `embed` outputs (or folders of them), clustered together.
    pub embeddings: Vec<PathBuf>,
    /// The output folder.
    pub out: PathBuf,
    pub clustering: ClusteringConfig,
    pub topics: TopicConfig,
    /// When set, the embeddings must come from this model (and its dimension); it also embeds
    /// candidate labels (default: the files' model).
    pub model: Option<String>,
    pub resolve: ResolveOptions,
    /// Where k-means and the model for candidate labels run.
    pub device: DeviceChoice,
    pub cuda: CudaOptions,
    /// Merge an earlier output's topics down to fewer instead of clustering.
    pub reduce: Option<Reduce>,
}

/// `--reduce-to N`: an earlier output's topics merged along their tree (Ward over the topics'
/// mean vectors, as `hierarchy.parquet` has it) down to `to` topics, then named and written as a
/// clustering would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reduce {
    pub to: usize,
    /// The earlier output's folder (its `documents.parquet`); `None`: the output folder itself.
    pub from: Option<PathBuf>,
}

/// `newsclust run`: articles in, embeddings and named topics out.
#[derive(Clone, Debug, Default)]
pub struct RunConfig {
    pub input: InputConfig,
    pub model: ModelSettings,
    pub compute: ComputeConfig,
    pub write_sync: WriteSync,
    /// As in [`EmbedConfig::resume`], for the embedding half.
    pub resume: bool,
    pub row_group_rows: Option<usize>,
    pub clustering: ClusteringConfig,
    pub topics: TopicConfig,
    /// The output folder (embeddings.parquet, documents.parquet, topics.parquet, run.json).
    pub out: PathBuf,
}
