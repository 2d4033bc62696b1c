//! The `newsclust` command line: clap's flags → the library's configuration → one library call
//! → an exit code. Exit codes: 0 every record embedded; 3 finished but some records were
//! skipped (0 with `--skipped-ok`); 2 fatal error (no output file left behind).

mod args;
mod bar;
mod convert;
mod flags;
mod process;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use newsclust::report::{ClusterSummary, EmbedSummary};
use newsclust::setting::Setting;
use newsclust::{Session, TopicRun};

use args::{Cli, Command};

const EXIT_OK: u8 = 0;
const EXIT_FATAL: u8 = 2;
const EXIT_SKIPPED: u8 = 3;

pub fn main() -> ExitCode {
    let started = Instant::now();
    // Before any other thread exists.
    process::start();
    // Errors name the flag to change (also clap's, for values our parsers refuse).
    Setting::name_with(flags::flag);
    let cli = Cli::parse();
    // Before any other thread starts (it sets candle's threading through the environment).
    let workers = match &cli.command {
        Command::Embed(args) => newsclust::device::configure_cpu_workers(args.model.threads),
        Command::Run(args) => newsclust::device::configure_cpu_workers(args.model.threads),
        Command::Bench(args) => newsclust::device::configure_cpu_workers(args.threads),
        Command::Cluster(_) | Command::Eval(_) => 1,
    };
    process::init_logging(cli.quiet, cli.verbose);
    let teardown = cli.teardown;
    let mut kept = Vec::new();
    let code = match run(cli, workers, &mut kept) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{}", message(err.as_ref()));
            EXIT_FATAL
        }
    };
    process::exit(code, kept, teardown, started)
}

/// The error and its causes, each cause only where the message does not already say it (our
/// errors name their cause in their own message and also expose it as `source`).
fn message(err: &newsclust::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

/// Runs the command; the sessions its jobs loaded go to `kept` (freed, or not, at the exit).
fn run(cli: Cli, workers: usize, kept: &mut Vec<Session>) -> Result<u8, Box<newsclust::Error>> {
    let quiet = cli.quiet;
    let exit_code = |summary: &EmbedSummary| exit_code(summary, cli.skipped_ok);
    match cli.command {
        Command::Embed(args) => {
            let limit = args.input.limit;
            let config = convert::embed(args, workers)
                .check()
                .map_err(newsclust::Error::from)?;
            let mut progress = bar::progress("embed", limit, quiet);
            let (session, embedded) = Session::embed(&config, false, progress.as_mut())?;
            kept.push(session);
            report_embed(&config.config().out, &embedded.summary, false);
            Ok(exit_code(&embedded.summary))
        }
        Command::Run(args) => {
            let started = Instant::now();
            let limit = args.input.limit;
            let config = convert::run(args, workers)
                .check()
                .map_err(newsclust::Error::from)?;
            let mut progress = bar::progress("embed", limit, quiet);
            let (session, embedded) = Session::embed_for_run(&config, progress.as_mut())?;
            report_embed(&config.embed().config().out, &embedded.summary, true);
            let summary = embedded.summary.clone();
            let run = session.cluster_embedded(embedded, &config);
            kept.push(session);
            report_topics(&run?);
            tracing::info!("done in {:.1} s", started.elapsed().as_secs_f64());
            Ok(exit_code(&summary))
        }
        Command::Cluster(args) => {
            let config = convert::cluster(args)
                .check()
                .map_err(newsclust::Error::from)?;
            let (run, _) = newsclust::pipeline::cluster_job::run_cluster(&config)?;
            report_topics(&run);
            Ok(EXIT_OK)
        }
        Command::Eval(args) => {
            let report = newsclust::eval::evaluate_file(
                &args.documents,
                &args.gold_column,
                &args.pred_column,
            )
            .map_err(newsclust::Error::from)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serializes")
                );
            } else {
                print!("{}", report.table());
            }
            Ok(EXIT_OK)
        }
        Command::Bench(args) => {
            let rows = newsclust::bench::run_bench(&convert::bench(args, workers))?;
            print!("{}", newsclust::bench::table(&rows));
            Ok(EXIT_OK)
        }
    }
}

fn exit_code(summary: &EmbedSummary, skipped_ok: bool) -> u8 {
    if summary.skipped == 0 {
        return EXIT_OK;
    }
    let code = if skipped_ok { EXIT_OK } else { EXIT_SKIPPED };
    tracing::warn!(
        "{} of {} records skipped (see the lines above); exit code {code}",
        summary.skipped,
        summary.read
    );
    code
}

/// `staged`: the file waits to be published with the topics (`run`).
fn report_embed(out: &std::path::Path, summary: &EmbedSummary, staged: bool) {
    let rate = summary.embedded as f64 / summary.total_seconds.max(1e-9);
    tracing::info!(
        "{} {}{} ({} embedded, {} skipped, {} truncated; {} tokens; {:.2} s in all: load {:.2} s (device {:.2} s beside input and tokenizer, weights {:.2} s), tokenize {:.2} s (own thread), embed {:.2} s, waiting for input {:.2} s and for the writer {:.2} s; {:.0} docs/s on {})",
        if staged {
            "embedded (published with the topics)"
        } else {
            "wrote"
        },
        out.display(),
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
}

fn report_topics(run: &TopicRun) {
    let s: &ClusterSummary = &run.summary;
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
    for f in &run.files {
        tracing::info!("wrote {}", f.display());
    }
}
