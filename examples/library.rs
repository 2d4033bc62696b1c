//! The whole pipeline through the library, no command line: embeds the articles of the file
//! named on the command line, clusters them into `--k` topics (default: chosen by `--k auto`)
//! and prints each topic's label and size.
//!
//! `cargo run --release --example library -- datasets/tech_news_sample.jsonl out/library 8`

use newsclust::{ClusteringConfig, InputConfig, KChoice, RunConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: library INPUT OUT_DIR [K]".into());
    };
    let k = match args.next() {
        Some(k) => KChoice::Fixed(k.parse()?),
        None => KChoice::AUTO,
    };
    let config = RunConfig {
        input: InputConfig::new(input),
        clustering: ClusteringConfig {
            k,
            ..ClusteringConfig::default()
        },
        out: out.into(),
        ..RunConfig::default()
    };
    let run = newsclust::run(&config)?;
    for topic in &run.topics {
        println!("{:>3}  {:>5}  {}", topic.id, topic.size, topic.label);
    }
    println!(
        "{} documents in {} topics",
        run.assignments.len(),
        run.topics.len()
    );
    Ok(())
}
