//! The `newsclust` command line: parses flags with clap and calls the library.
//!
//! Exit codes: 0 every record embedded; 3 finished but some records were skipped; 2 fatal error
//! (no output file left behind).

use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use newsclust::device::DeviceChoice;
use newsclust::io::{Field, FieldMap, FieldOverride, InputFormat, ReadOptions, TextSpec};
use newsclust::model::ResolveOptions;
use newsclust::pipeline::{run_embed, EmbedJob};

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
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed articles into a Parquet file (one row and one vector per article).
    Embed(EmbedArgs),
}

#[derive(Args)]
struct InputArgs {
    /// Input file: .csv, .jsonl or .parquet.
    #[arg(long, short)]
    input: PathBuf,
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
    #[arg(long)]
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
    /// Texts per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// CPU threads (default: all cores); batches run side by side, one per thread.
    #[arg(long)]
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

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v2): how long freed memory stays committed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // candle allocates a fresh buffer for every tensor op; returning freed memory to the OS makes
    // each new buffer page-fault and be zeroed by the kernel (15% of CPU embedding time).
    // SAFETY: sets a process-wide allocator option; no other thread runs yet.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let cli = Cli::parse();
    // Before any other thread starts (it sets candle's threading through the environment).
    let workers = match &cli.command {
        Command::Embed(args) => newsclust::device::configure_cpu_workers(args.model.threads),
    };
    init_logging(cli.quiet);
    match run(cli, workers) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}

fn init_logging(quiet: bool) {
    let level = if quiet {
        tracing::Level::WARN
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

fn run(cli: Cli, workers: usize) -> anyhow::Result<u8> {
    match cli.command {
        Command::Embed(args) => embed(args, cli.quiet, workers),
    }
}

fn embed(args: EmbedArgs, quiet: bool, workers: usize) -> anyhow::Result<u8> {
    let EmbedArgs { input, model, out } = args;
    let mut resolve = ResolveOptions::from_env();
    if let Some(dir) = model.models_dir {
        resolve.models_dir = dir;
    }
    let job = EmbedJob {
        input: input.input,
        read: ReadOptions {
            format: input.format,
            no_header: input.no_header,
            columns: input.columns,
            fields: FieldMap::new(input.fields),
            limit: input.limit,
        },
        text: TextSpec {
            fields: input.text_fields,
            separator: input.separator,
        },
        model: model.model,
        resolve,
        max_length: model.max_length,
        device: model.device,
        batch_size: model.batch_size,
        cpu_workers: workers,
        out,
        strict: input.strict,
        quiet,
    };
    let summary = run_embed(&job, |bad| tracing::warn!("skipped {bad}"))?;
    let rate = summary.embedded as f64 / summary.total_seconds.max(1e-9);
    tracing::info!(
        "wrote {} ({} embedded, {} skipped, {} truncated; {} tokens; {:.1} s in all, tokenize {:.2} s, embed {:.1} s; {:.0} docs/s on {})",
        job.out.display(),
        summary.embedded,
        summary.skipped,
        summary.truncated,
        summary.tokens,
        summary.total_seconds,
        summary.tokenize_seconds,
        summary.embed_seconds,
        rate,
        summary.device
    );
    if summary.skipped > 0 {
        tracing::warn!(
            "{} of {} records skipped (see the lines above); exit code 3",
            summary.skipped,
            summary.read
        );
        Ok(EXIT_SKIPPED)
    } else {
        Ok(EXIT_OK)
    }
}
