//! The command line's flags, as clap parses them (turned into the library's configuration by
//! `convert.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use newsclust::cluster::{Algorithm, KChoice, KMeansKernels};
use newsclust::config::{NamingMode, StreamChoice};
use newsclust::device::{DeviceChoice, Precision};
use newsclust::embed::{AttentionKernel, Forward};
use newsclust::io::embeddings_out::WriteSync;
use newsclust::io::{Field, FieldOverride, InputFormat};

#[derive(Parser)]
#[command(
    name = "newsclust",
    version,
    about = "Tech-news articles in, sentence embeddings and named topic groups out"
)]
pub struct Cli {
    /// Hide progress and info lines (warnings and errors still show).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also show debug lines: load steps and the time of every batch.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Free the model and the device before exiting, the usual way, instead of leaving it to
    /// the operating system (to compare the two).
    #[arg(long, global = true)]
    pub teardown: bool,
    /// Exit 0, not 3, when records were skipped (they are still counted and reported): for
    /// schedulers that retry, or fail the next step on, any exit code but 0.
    #[arg(long, global = true)]
    pub skipped_ok: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Embed articles into a Parquet file (one row and one vector per article).
    Embed(EmbedArgs),
    /// Embed, cluster and name topics: articles in, topic groups out (DIR/documents.parquet, topics.parquet, hierarchy.parquet, run.json, report.html).
    Run(RunArgs),
    /// Cluster an `embed` output and name the topics, without embedding again.
    Cluster(ClusterCmdArgs),
    /// Score topic assignments against a gold column (NMI, ARI, V-measure, homogeneity, completeness).
    Eval(EvalArgs),
    /// Time the embed and cluster stages on each device and precision.
    Bench(BenchArgs),
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// A sentence-transformers model folder, or a hub id `org/name[@revision]`.
    #[arg(long, short, default_value = newsclust::config::DEFAULT_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub models: ModelsDirArg,
    /// Devices to time, e.g. `cpu,cuda`.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub devices: Vec<DeviceChoice>,
    /// Precisions to time, e.g. `f32,f16` (the CPU runs f32 only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32")]
    pub dtypes: Vec<Precision>,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub cuda: CudaArgs,
    /// Timed repeats after one warm-up; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// k of the timed k-means.
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    /// The timed k-means on a GPU: our kernels or candle's ops.
    #[arg(long, value_enum, default_value_t = KMeansKernels::Ours)]
    pub kmeans_kernels: KMeansKernels,
    /// Also time each stage of the forward pass (device-synchronised, so slower) and print
    /// their table after each device and precision.
    #[arg(long)]
    pub profile: bool,
    /// CPU threads (default: all cores).
    #[arg(long, value_parser = at_least_one())]
    pub threads: Option<usize>,
    /// Also write the rows to this Parquet file (and the same name with .json).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct ClusterArgs {
    /// Clustering algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::Kmeans)]
    pub algorithm: Algorithm,
    /// k-means: number of topics, or `auto` (chosen for k in 2..=40 from fine fits' topic trees on a 10,000-article sample; see README).
    #[arg(long, default_value = "auto")]
    pub k: KChoice,
    /// k-means: restarts from new k-means++ seeds; the lowest inertia wins.
    #[arg(long, default_value_t = 10)]
    pub n_init: usize,
    /// k-means: iterations at most (mini-batch: passes over the data).
    #[arg(long, default_value_t = 300)]
    pub max_iter: usize,
    /// k-means: stop when centres move less than this (relative to the data's variance).
    #[arg(long, default_value_t = 1e-4)]
    pub tol: f64,
    /// Random seed: the same input and seed give the same topics.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// k-means: mini-batch size (default: 4,096 from 100,000 articles on, else full batch).
    #[arg(long)]
    pub mini_batch: Option<usize>,
    /// k-means: read the vectors in passes over their row groups instead of holding them all
    /// (memory: the centres, one batch, the vocabulary): `auto` streams when the vectors take
    /// more than 1 GiB.
    #[arg(long, value_enum, default_value_t = StreamChoice::Auto)]
    pub stream: StreamChoice,
    /// Streaming k-means: Lloyd passes over all rows at most, after the fit on a sample (fewer
    /// when the centres stop moving, see --tol).
    #[arg(long, default_value_t = 10)]
    pub passes: usize,
    /// Streaming k-means: about this many rows, drawn by row number and --seed, are fitted
    /// first (k-means++ and Lloyd's iterations, --n-init restarts; --k auto scores them).
    #[arg(long, default_value_t = 65_536)]
    pub stream_sample: usize,
    /// k-means on a GPU: our kernels (machine code, no JIT on a new machine) or candle's ops.
    #[arg(long, value_enum, default_value_t = KMeansKernels::Ours)]
    pub kmeans_kernels: KMeansKernels,
    /// HDBSCAN: smallest topic.
    #[arg(long, default_value_t = 15)]
    pub min_cluster_size: usize,
    /// HDBSCAN: neighbours for core distances (default: --min-cluster-size).
    #[arg(long)]
    pub min_samples: Option<usize>,
    /// HDBSCAN: reduce embeddings with PCA to this many dimensions first (0: no reduction).
    #[arg(long, default_value_t = 10)]
    pub reduce_dims: usize,
    /// HDBSCAN: no topic may hold more than this share of the articles (1: no limit). Without a
    /// limit, HDBSCAN on PCA-reduced 20 Newsgroups kept one giant cluster (2 topics, NMI 0.18).
    #[arg(long, default_value_t = 0.3)]
    pub max_cluster_share: f64,
    /// HDBSCAN: give noise articles the nearest topic when similar enough.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub reassign_outliers: bool,
    /// Cosine similarity to a topic centroid needed to reassign a noise article (0.1 left 0.9% of
    /// AG News unassigned, 0.3 left 33%).
    #[arg(long, default_value_t = 0.1)]
    pub outlier_threshold: f32,
    /// Candidate topic labels, one per line; a topic takes the most similar one above --label-threshold.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// More stop words for keywords, one per line (e.g. news-wire names such as reuters, ap).
    #[arg(long)]
    pub stop_words: Option<PathBuf>,
    /// Cosine similarity between a candidate label and a topic centroid needed to use it.
    #[arg(long, default_value_t = 0.3)]
    pub label_threshold: f32,
    /// How topics are named: phrases (a phrase, a theme and a label of at most 4 words, embedded
    /// with the model) or keywords (the two best c-TF-IDF words; no model needed).
    #[arg(long, value_enum, default_value_t = NamingMode::Phrases)]
    pub naming: NamingMode,
    /// Themes topics may take: a file of `name: description` lines, or `none`; default: the
    /// built-in list.
    #[arg(long, value_name = "FILE|none")]
    pub themes: Option<PathBuf>,
    /// Cosine similarity between a theme's description and a topic centroid needed to use it.
    #[arg(long, default_value_t = newsclust::topics::theme::DEFAULT_THRESHOLD)]
    pub theme_threshold: f32,
    /// Add each document's embedding to documents.parquet.
    #[arg(long)]
    pub with_embeddings: bool,
    /// Periods of topics_over_time.parquet (written when documents have dates); default: from
    /// the dates' span (day up to 60 days, week up to 14 months, month up to 5 years, quarter
    /// up to 20, else year).
    #[arg(long, value_enum)]
    pub time_bins: Option<newsclust::topics::dates::TimeBins>,
    /// Keywords kept per topic.
    #[arg(long, default_value_t = 10)]
    pub top_keywords: usize,
    /// A keyword must occur in at least this many documents.
    #[arg(long, default_value_t = 2)]
    pub min_df: usize,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Output folder (embeddings.parquet, documents.parquet, topics.parquet, run.json).
    #[arg(long, short)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct ClusterCmdArgs {
    /// `embed` outputs (or folders of them), clustered together; they must come from one model.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub embeddings: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Check the embeddings were made with this model (also used to embed --labels; default: the file's model).
    #[arg(long, short)]
    pub model: Option<String>,
    #[command(flatten)]
    pub models: ModelsDirArg,
    /// Device for k-means and for embedding --labels: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    #[command(flatten)]
    pub cuda: CudaArgs,
    /// Output folder.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Merge the topics of an earlier output (--from, default --out) along their tree down to N, instead of clustering; --embeddings must be the ones it was clustered from.
    #[arg(long, value_name = "N")]
    pub reduce_to: Option<usize>,
    /// The earlier output --reduce-to merges (a folder `run` or `cluster` wrote).
    #[arg(long, value_name = "DIR", requires = "reduce_to")]
    pub from: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A documents.parquet written by `run` or `cluster`.
    #[arg(long)]
    pub documents: PathBuf,
    /// The gold column.
    #[arg(long, default_value = "label")]
    pub gold_column: String,
    /// The predicted column.
    #[arg(long, default_value = "topic_id")]
    pub pred_column: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct InputArgs {
    /// Input files or folders (.csv, .jsonl, .parquet; a folder: its files of those kinds, by
    /// name), read in the order given; the first file's columns are the output's.
    #[arg(long, short, required = true, num_args = 1.., value_name = "PATH")]
    pub input: Vec<PathBuf>,
    /// Input format (auto: from the extension).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// CSV: the first line is data, not a header (name the columns with --columns).
    #[arg(long)]
    pub no_header: bool,
    /// CSV: the columns' names in order, e.g. `label,title,text` (`_` ignores a column).
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Take a field from another column, e.g. `--field text=description` (repeatable).
    #[arg(long = "field", value_name = "FIELD=COLUMN")]
    pub fields: Vec<FieldOverride>,
    /// Read only the first N records.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Fields joined into the text that is embedded (and searched for keywords), in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Field::Title, Field::Text])]
    pub text_fields: Vec<Field>,
    /// Placed between the non-empty text fields.
    #[arg(long, default_value = ". ")]
    pub separator: String,
    /// Any bad record is a fatal error instead of a counted skip.
    #[arg(long)]
    pub strict: bool,
}

/// How batches run through the model (`embed`, `run` and `bench`).
#[derive(Args)]
pub struct PassArgs {
    /// Texts per forward pass (default: 16 on the CPU, 1024 on a GPU).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Forward pass: packed (no padding) or padded; auto: packed on CUDA, padded on the CPU.
    #[arg(long, value_enum, default_value_t = Forward::Auto)]
    pub forward: Forward,
    /// Attention kernel of the packed pass on CUDA in f16/bf16.
    #[arg(long, value_enum, default_value_t = AttentionKernel::TensorCores)]
    pub attention: AttentionKernel,
    /// On a GPU, queue the next batch before the last one is back (false: one at a time).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub queue_batches: bool,
}

/// How a CUDA device is opened (`benches/gpu/` compares these).
#[derive(Args)]
pub struct CudaArgs {
    /// Load cuBLAS and cuRAND beside the driver's start-up (false: when first used).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub cuda_preload: bool,
    /// Load our kernels from their PTX (compiled by the driver) instead of their machine code,
    /// to measure what the JIT costs.
    #[arg(long)]
    pub cuda_ptx: bool,
}

/// Where installed models are.
#[derive(Args)]
pub struct ModelsDirArg {
    /// Folder of installed models.
    #[arg(long, env = "NEWSCLUST_MODELS", default_value = "models")]
    pub models_dir: PathBuf,
}

#[derive(Args)]
pub struct ModelArgs {
    /// A sentence-transformers model folder, or a hub id `org/name[@revision]`.
    #[arg(long, short, default_value = newsclust::config::DEFAULT_MODEL)]
    pub model: String,
    /// Tokens per text (default: the model's max_seq_length).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Precision of the model on the GPU (the CPU computes in f32).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub dtype: Precision,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub cuda: CudaArgs,
    /// CPU threads (default: all cores); batches run side by side, one per thread.
    #[arg(long, value_parser = at_least_one())]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub models: ModelsDirArg,
}

/// How the embeddings file goes to the disk.
#[derive(Args)]
pub struct WriteArgs {
    /// After each row group: start its writeback and go on, or wait until it is on the disk.
    #[arg(long, value_enum, default_value_t = WriteSync::Start)]
    pub write_sync: WriteSync,
    /// Checkpoint each finished row group beside the output (.NAME.resume/), and go on from the
    /// checkpoint an interrupted run of the same job left (kill -9, a preempted instance): at
    /// most one row group of work is lost, and the output is the one an uninterrupted run
    /// writes. Give it from the first run on (a scheduler's command line always can).
    #[arg(long)]
    pub resume: bool,
    /// Rows per row group of the embeddings file (and per checkpoint with --resume).
    #[arg(long, value_parser = at_least_one(), default_value_t = 8192)]
    pub row_group_rows: usize,
}

#[derive(Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Output Parquet file (with --shard: the prefix folder that gets the part).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Embed one shard of the input: I/N (shard I of N, from 0: a contiguous run of the records,
    /// so that the N parts in order are the whole input), or auto: from the scheduler's array-job
    /// variables (Kubernetes JOB_COMPLETION_INDEX, AWS Batch AWS_BATCH_JOB_ARRAY_INDEX and
    /// _SIZE, Slurm SLURM_ARRAY_TASK_ID, _MIN and _COUNT). Writes OUT/part-IIIII-of-NNNNN.parquet;
    /// a retried shard replaces its part.
    #[arg(long, value_parser = parse_shard, value_name = "I/N|auto")]
    pub shard: Option<ShardArg>,
    /// With --shard auto: the number of shards, where the scheduler's variables do not say it
    /// (a Kubernetes Indexed Job: its completions).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..))]
    pub shard_count: Option<u32>,
}

/// `--shard`: a given shard, or `auto`.
#[derive(Clone, Copy, Debug)]
pub enum ShardArg {
    Fixed(newsclust::io::shard::Shard),
    Auto,
}

fn parse_shard(s: &str) -> Result<ShardArg, String> {
    if s.trim() == "auto" {
        return Ok(ShardArg::Auto);
    }
    s.parse().map(ShardArg::Fixed).map_err(|e| format!("{e}"))
}

/// A count flag that must be at least 1 (clap rejects 0 with the flag's name).
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}
