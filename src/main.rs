//! The `newsclust` command line: parses flags with clap and calls the library.
//!
//! Exit codes: 0 every record embedded; 3 finished but some records were skipped; 2 fatal error
//! (no output file left behind).

use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use newsclust::cluster::Algorithm;
use newsclust::device::{DeviceChoice, Precision};
use newsclust::embed::{AttentionKernel, Forward};
use newsclust::io::{Field, FieldMap, FieldOverride, InputFormat, ReadOptions, TextSpec};
use newsclust::model::ResolveOptions;
use newsclust::pipeline::{
    run_cluster, run_embed_keeping_model, ClusterJob, ClusterSummary, EmbedJob, EmbedSummary,
    KChoice, LoadedModel,
};
use newsclust::topics::TopicParams;

const EXIT_OK: u8 = 0;
const EXIT_FATAL: u8 = 2;
const EXIT_SKIPPED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "newsclust",
    version,
    about = "Tech-news articles in, sentence embeddings and named topic groups out"
)]
struct Cli {
    /// Hide progress and info lines (warnings and errors still show).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Also show debug lines: load steps and the time of every batch.
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed articles into a Parquet file (one row and one vector per article).
    Embed(EmbedArgs),
    /// Embed, cluster and name topics: articles in, topic groups out (DIR/documents.parquet, topics.parquet, run.json).
    Run(RunArgs),
    /// Cluster an `embed` output and name the topics, without embedding again.
    Cluster(ClusterCmdArgs),
    /// Score topic assignments against a gold column (NMI, ARI, V-measure, homogeneity, completeness).
    Eval(EvalArgs),
    /// Time the embed and cluster stages on each device and precision.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    input: InputArgs,
    /// A sentence-transformers model folder, or a hub id `org/name[@revision]`.
    #[arg(long, short, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
    model: String,
    /// Folder of installed models (default: $NEWSCLUST_MODELS or ./models).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Devices to time, e.g. `cpu,cuda`.
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    devices: Vec<DeviceChoice>,
    /// Precisions to time, e.g. `f32,f16` (the CPU runs f32 only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32")]
    dtypes: Vec<Precision>,
    #[command(flatten)]
    pass: PassArgs,
    /// Timed repeats after one warm-up; the best is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// k of the timed k-means.
    #[arg(long, default_value_t = 20)]
    k: usize,
    /// CPU threads (default: all cores).
    #[arg(long, value_parser = at_least_one())]
    threads: Option<usize>,
    /// Also write the rows to this Parquet file (and the same name with .json).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ClusterArgs {
    /// Clustering algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::Kmeans)]
    algorithm: Algorithm,
    /// k-means: number of topics, or `auto` (best mean silhouette for k in 2..=40 on a 2,000-article sample).
    #[arg(long, default_value = "auto")]
    k: KChoice,
    /// k-means: restarts from new k-means++ seeds; the lowest inertia wins.
    #[arg(long, default_value_t = 10)]
    n_init: usize,
    /// k-means: iterations at most (mini-batch: passes over the data).
    #[arg(long, default_value_t = 300)]
    max_iter: usize,
    /// k-means: stop when centres move less than this (relative to the data's variance).
    #[arg(long, default_value_t = 1e-4)]
    tol: f64,
    /// Random seed: the same input and seed give the same topics.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// k-means: mini-batch size (default: 4,096 from 100,000 articles on, else full batch).
    #[arg(long)]
    mini_batch: Option<usize>,
    /// HDBSCAN: smallest topic.
    #[arg(long, default_value_t = 15)]
    min_cluster_size: usize,
    /// HDBSCAN: neighbours for core distances (default: --min-cluster-size).
    #[arg(long)]
    min_samples: Option<usize>,
    /// HDBSCAN: reduce embeddings with PCA to this many dimensions first (0: no reduction).
    #[arg(long, default_value_t = 10)]
    reduce_dims: usize,
    /// HDBSCAN: no topic may hold more than this share of the articles (1: no limit). Without a
    /// limit, HDBSCAN on PCA-reduced 20 Newsgroups kept one giant cluster (2 topics, NMI 0.18).
    #[arg(long, default_value_t = 0.3)]
    max_cluster_share: f64,
    /// HDBSCAN: give noise articles the nearest topic when similar enough.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    reassign_outliers: bool,
    /// Cosine similarity to a topic centroid needed to reassign a noise article (0.1 left 0.9% of
    /// AG News unassigned, 0.3 left 33%).
    #[arg(long, default_value_t = 0.1)]
    outlier_threshold: f32,
    /// Candidate topic labels, one per line; a topic takes the most similar one above --label-threshold.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// More stop words for keywords, one per line (e.g. news-wire names such as reuters, ap).
    #[arg(long)]
    stop_words: Option<PathBuf>,
    /// Cosine similarity between a candidate label and a topic centroid needed to use it.
    #[arg(long, default_value_t = 0.3)]
    label_threshold: f32,
    /// Add each document's embedding to documents.parquet.
    #[arg(long)]
    with_embeddings: bool,
    /// Keywords kept per topic.
    #[arg(long, default_value_t = 10)]
    top_keywords: usize,
    /// A keyword must occur in at least this many documents.
    #[arg(long, default_value_t = 2)]
    min_df: usize,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Output folder (embeddings.parquet, documents.parquet, topics.parquet, run.json).
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Args)]
struct ClusterCmdArgs {
    /// `embed` outputs (or folders of them), clustered together; they must come from one model.
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    embeddings: Vec<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Check the embeddings were made with this model (also used to embed --labels; default: the file's model).
    #[arg(long, short)]
    model: Option<String>,
    /// Folder of installed models (default: $NEWSCLUST_MODELS or ./models).
    #[arg(long)]
    models_dir: Option<PathBuf>,
    /// Device for embedding --labels: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Output folder.
    #[arg(long, short)]
    out: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    /// A documents.parquet written by `run` or `cluster`.
    #[arg(long)]
    documents: PathBuf,
    /// The gold column.
    #[arg(long, default_value = "label")]
    gold_column: String,
    /// The predicted column.
    #[arg(long, default_value = "topic_id")]
    pred_column: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct InputArgs {
    /// Input files or folders (.csv, .jsonl, .parquet; a folder: its files of those kinds, by
    /// name), read in the order given; the first file's columns are the output's.
    #[arg(long, short, required = true, num_args = 1.., value_name = "PATH")]
    input: Vec<PathBuf>,
    /// Input format (auto: from the extension).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// CSV: the first line is data, not a header (name the columns with --columns).
    #[arg(long)]
    no_header: bool,
    /// CSV: the columns' names in order, e.g. `label,title,text` (`_` ignores a column).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Take a field from another column, e.g. `--field text=description` (repeatable).
    #[arg(long = "field", value_name = "FIELD=COLUMN")]
    fields: Vec<FieldOverride>,
    /// Read only the first N records.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Fields joined into the text that is embedded, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Field::Title, Field::Text])]
    text_fields: Vec<Field>,
    /// Placed between the non-empty text fields.
    #[arg(long, default_value = ". ")]
    separator: String,
    /// Any bad record is a fatal error instead of a counted skip.
    #[arg(long)]
    strict: bool,
}

/// How batches run through the model (`embed`, `run` and `bench`).
#[derive(Args)]
struct PassArgs {
    /// Texts per forward pass (default: 16 on the CPU, 1024 on a GPU).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Forward pass: packed (no padding) or padded; auto: packed on CUDA, padded on the CPU.
    #[arg(long, value_enum, default_value_t = Forward::Auto)]
    forward: Forward,
    /// Attention kernel of the packed pass on CUDA in f16/bf16.
    #[arg(long, value_enum, default_value_t = AttentionKernel::TensorCores)]
    attention: AttentionKernel,
}

#[derive(Args)]
struct ModelArgs {
    /// A sentence-transformers model folder, or a hub id `org/name[@revision]`.
    #[arg(long, short, default_value = "sentence-transformers/all-MiniLM-L6-v2")]
    model: String,
    /// Tokens per text (default: the model's max_seq_length).
    #[arg(long)]
    max_length: Option<usize>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceChoice,
    /// Precision of the model on the GPU (the CPU computes in f32).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
    #[command(flatten)]
    pass: PassArgs,
    /// CPU threads (default: all cores); batches run side by side, one per thread.
    #[arg(long, value_parser = at_least_one())]
    threads: Option<usize>,
    /// Folder of installed models (default: $NEWSCLUST_MODELS or ./models).
    #[arg(long)]
    models_dir: Option<PathBuf>,
}

#[derive(Args)]
struct EmbedArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Output Parquet file.
    #[arg(long, short)]
    out: PathBuf,
}

/// A count flag that must be at least 1 (clap rejects 0 with the flag's name).
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v2): how long freed memory stays committed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    // Before any other thread exists: they all inherit the blocked signals.
    handle_interrupts();
    // candle allocates a fresh buffer for every tensor op; returning freed memory to the OS makes
    // each new buffer page-fault and be zeroed by the kernel (15% of CPU embedding time).
    // SAFETY: sets a process-wide allocator option; no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = Cli::parse();
    // Before any other thread starts (it sets candle's threading through the environment).
    let workers = match &cli.command {
        Command::Embed(EmbedArgs { model, .. }) | Command::Run(RunArgs { model, .. }) => {
            newsclust::device::configure_cpu_workers(model.threads)
        }
        Command::Bench(args) => newsclust::device::configure_cpu_workers(args.threads),
        Command::Cluster(_) | Command::Eval(_) => 1,
    };
    init_logging(cli.quiet, cli.verbose);
    let mut kept = Vec::new();
    let code = match run(cli, workers, &mut kept) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{}", message(&err));
            EXIT_FATAL
        }
    };
    exit(code, kept, started)
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP are blocked in every thread and awaited by one of their
/// own: on one, the temporary files of outputs still being written are removed (destructors do
/// not run on a signal, so they would stay behind as hidden `.NAME.PID.tmp` files) and the
/// process exits with 128 + the signal's number, as shells report a signal's end.
fn handle_interrupts() {
    // SAFETY: plain libc signal-set calls on a local set; the mask is changed before any other
    // thread starts, and the waiting thread only removes files and ends the process.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let waiting = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut signal = 0;
                if libc::sigwait(&set, &mut signal) == 0 {
                    let removed = newsclust::io::atomic::remove_unfinished();
                    eprintln!(
                        "\nnewsclust: stopped by signal {signal}; {removed} unfinished output file(s) removed"
                    );
                    libc::_exit(128 + signal);
                }
            });
        if waiting.is_err() {
            // No thread to wait for them: let the signals act as they do by default.
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

/// The error and its causes, each cause only where the message does not already say it (our
/// errors name their cause in their own message and also expose it as `source`).
fn message(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Ends the process. The models finished jobs kept (a GPU's weights, memory pool, context and
/// libraries with them) are not freed piece by piece: the process ends at once (`_exit`) and the
/// operating system takes everything back. Every output is complete, synced and renamed by then,
/// and stdout and stderr are flushed. `NEWSCLUST_TEARDOWN=1` frees them first, the usual way
/// (to compare the two).
fn exit(code: u8, kept: Vec<LoadedModel>, started: std::time::Instant) -> ExitCode {
    let teardown = std::env::var_os("NEWSCLUST_TEARDOWN").is_some_and(|v| v == "1");
    if teardown && !kept.is_empty() {
        let t = std::time::Instant::now();
        drop(kept);
        tracing::debug!(
            "model and device freed in {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
    // With a process's wall time, says what starting and exiting cost.
    tracing::debug!("{:.3} s from main to exit", started.elapsed().as_secs_f64());
    if teardown {
        return ExitCode::from(code);
    }
    use std::io::Write;
    let flushed = std::io::stdout().flush().is_ok();
    let _ = std::io::stderr().flush();
    if !flushed && code == EXIT_OK {
        // Output that could not be written is an error, as Rust's own exit would report.
        return ExitCode::from(EXIT_FATAL);
    }
    // SAFETY: `_exit` ends the process without running destructors or exit handlers; nothing
    // is left to write (files are closed and renamed, standard streams flushed above).
    unsafe { libc::_exit(i32::from(code)) }
}

fn init_logging(quiet: bool, verbose: bool) {
    let level = if quiet {
        tracing::Level::WARN
    } else if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs the command; models its jobs loaded go to `kept` (freed, or not, when the process ends).
fn run(cli: Cli, workers: usize, kept: &mut Vec<LoadedModel>) -> anyhow::Result<u8> {
    match cli.command {
        Command::Embed(args) => embed(args, cli.quiet, workers, kept),
        Command::Run(args) => run_all(args, cli.quiet, workers, kept),
        Command::Cluster(args) => cluster(args),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench(args, workers),
    }
}

fn embed(
    args: EmbedArgs,
    quiet: bool,
    workers: usize,
    kept: &mut Vec<LoadedModel>,
) -> anyhow::Result<u8> {
    let EmbedArgs { input, model, out } = args;
    let job = embed_job(input, model, out, quiet, workers);
    let summary = embed_and_report(&job, kept)?;
    Ok(exit_code(&summary))
}

/// The input paths, how to read them, and what text to embed, from the input flags.
fn reading(input: InputArgs) -> (Vec<PathBuf>, ReadOptions, TextSpec) {
    let read = ReadOptions {
        format: input.format,
        no_header: input.no_header,
        columns: input.columns,
        fields: FieldMap::new(input.fields),
        limit: input.limit,
    };
    let text = TextSpec {
        fields: input.text_fields,
        separator: input.separator,
    };
    (input.input, read, text)
}

fn exit_code(summary: &EmbedSummary) -> u8 {
    if summary.skipped > 0 {
        tracing::warn!(
            "{} of {} records skipped (see the lines above); exit code 3",
            summary.skipped,
            summary.read
        );
        EXIT_SKIPPED
    } else {
        EXIT_OK
    }
}

fn resolve_options(models_dir: Option<PathBuf>) -> ResolveOptions {
    let mut resolve = ResolveOptions::from_env();
    if let Some(dir) = models_dir {
        resolve.models_dir = dir;
    }
    resolve
}

fn embed_job(
    input: InputArgs,
    model: ModelArgs,
    out: PathBuf,
    quiet: bool,
    workers: usize,
) -> EmbedJob {
    let resolve = resolve_options(model.models_dir);
    let strict = input.strict;
    let (inputs, read, text) = reading(input);
    EmbedJob {
        inputs,
        read,
        text,
        model: model.model,
        resolve,
        max_length: model.max_length,
        device: model.device,
        precision: model.dtype,
        batch_size: model.pass.batch_size,
        forward: model.pass.forward,
        attention: model.pass.attention,
        cpu_workers: workers,
        out,
        strict,
        quiet,
    }
}

fn embed_and_report(job: &EmbedJob, kept: &mut Vec<LoadedModel>) -> anyhow::Result<EmbedSummary> {
    let (summary, model) = run_embed_keeping_model(job, |bad| tracing::warn!("skipped {bad}"))?;
    kept.push(model);
    let rate = summary.embedded as f64 / summary.total_seconds.max(1e-9);
    tracing::info!(
        "wrote {}{} ({} embedded, {} skipped, {} truncated; {} tokens; {:.2} s in all: load {:.2} s (device {:.2} s beside input and tokenizer, weights {:.2} s), tokenize {:.2} s (own thread), embed {:.2} s, waiting for input {:.2} s and for the writer {:.2} s; {:.0} docs/s on {})",
        job.out.display(),
        match summary.input_files.len() {
            1 => String::new(),
            n => format!(" from {n} input files"),
        },
        summary.embedded,
        summary.skipped,
        summary.truncated,
        summary.tokens,
        summary.total_seconds,
        summary.load_seconds,
        summary.device_seconds,
        summary.weights_seconds,
        summary.tokenize_seconds,
        summary.embed_seconds,
        summary.input_wait_seconds,
        summary.write_wait_seconds,
        rate,
        summary.device
    );
    Ok(summary)
}

fn cluster_job(
    args: ClusterArgs,
    embeddings: Vec<PathBuf>,
    out: PathBuf,
    model: Option<String>,
    resolve: ResolveOptions,
    device: DeviceChoice,
) -> ClusterJob {
    ClusterJob {
        embeddings,
        out_dir: out,
        algorithm: args.algorithm,
        k: args.k,
        n_init: args.n_init,
        max_iter: args.max_iter,
        tol: args.tol,
        seed: args.seed,
        mini_batch: args.mini_batch,
        min_cluster_size: args.min_cluster_size,
        min_samples: args.min_samples,
        reduce_dims: (args.reduce_dims > 0).then_some(args.reduce_dims),
        max_cluster_share: args.max_cluster_share,
        reassign_outliers: args.reassign_outliers,
        outlier_threshold: args.outlier_threshold,
        labels_file: args.labels,
        stop_words_file: args.stop_words,
        label_threshold: args.label_threshold,
        with_embeddings: args.with_embeddings,
        topics: TopicParams {
            top_keywords: args.top_keywords,
            min_df: args.min_df,
            ..TopicParams::default()
        },
        model,
        resolve,
        device,
    }
}

fn report_cluster(s: &ClusterSummary) {
    tracing::info!(
        "{} documents in {} topics, {} unassigned ({:.1}%), {} noise articles reassigned; cluster {:.1} s, topics {:.1} s",
        s.documents,
        s.topics,
        s.unassigned,
        100.0 * s.unassigned as f64 / s.documents.max(1) as f64,
        s.reassigned,
        s.seconds_cluster,
        s.seconds_topics
    );
    for f in &s.files {
        tracing::info!("wrote {}", f.display());
    }
}

fn run_all(
    args: RunArgs,
    quiet: bool,
    workers: usize,
    kept: &mut Vec<LoadedModel>,
) -> anyhow::Result<u8> {
    let RunArgs {
        input,
        model,
        cluster,
        out,
    } = args;
    let started = std::time::Instant::now();
    let (device, resolve) = (model.device, resolve_options(model.models_dir.clone()));
    let spec = model.model.clone();
    let embeddings = out.join("embeddings.parquet");
    let job = embed_job(input, model, embeddings.clone(), quiet, workers);
    let cjob = cluster_job(cluster, vec![embeddings], out, Some(spec), resolve, device);
    // Clustering flags and files are checked before the embedding work, not after it.
    cjob.check()?;
    let embedded = embed_and_report(&job, kept)?;
    let extra = serde_json::json!({
        "config": { "input": job.inputs, "input_files": embedded.input_files, "model": job.model, "batch_size": embedded.batch_size, "device": job.device.to_string(), "dtype": job.precision.name() },
        "counts": { "read": embedded.read, "skipped": embedded.skipped, "embedded": embedded.embedded, "truncated": embedded.truncated },
        "seconds": { "load": embedded.load_seconds, "device": embedded.device_seconds, "weights": embedded.weights_seconds, "tokenize": embedded.tokenize_seconds, "embed": embedded.embed_seconds, "write_wait": embedded.write_wait_seconds, "input_wait": embedded.input_wait_seconds, "embed_stage_total": embedded.total_seconds },
        "embedding_device": embedded.device,
    });
    let summary = run_cluster(&cjob, extra)?;
    report_cluster(&summary);
    tracing::info!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(exit_code(&embedded))
}

fn cluster(args: ClusterCmdArgs) -> anyhow::Result<u8> {
    let ClusterCmdArgs {
        embeddings,
        cluster,
        model,
        models_dir,
        device,
        out,
    } = args;
    let job = cluster_job(
        cluster,
        embeddings,
        out,
        model,
        resolve_options(models_dir),
        device,
    );
    let summary = run_cluster(&job, serde_json::json!({}))?;
    report_cluster(&summary);
    Ok(EXIT_OK)
}

fn eval(args: EvalArgs) -> anyhow::Result<u8> {
    let report =
        newsclust::eval::evaluate_file(&args.documents, &args.gold_column, &args.pred_column)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(EXIT_OK)
}

fn bench(args: BenchArgs, workers: usize) -> anyhow::Result<u8> {
    let BenchArgs {
        input,
        model,
        models_dir,
        devices,
        dtypes,
        pass,
        repeat,
        k,
        threads: _,
        out,
    } = args;
    let (inputs, read, text) = reading(input);
    let job = newsclust::bench::BenchJob {
        inputs,
        read,
        text,
        model,
        resolve: resolve_options(models_dir),
        devices,
        dtypes,
        batch_size: pass.batch_size,
        forward: pass.forward,
        attention: pass.attention,
        repeat,
        k,
        cpu_workers: workers,
        out,
    };
    let rows = newsclust::bench::run_bench(&job)?;
    print!("{}", newsclust::bench::table(&rows));
    Ok(EXIT_OK)
}
