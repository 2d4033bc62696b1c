//! newsclust: tech-news articles in, named topic groups out.
//!
//! The library is the product; the `newsclust` binary is a thin layer over it. The whole
//! pipeline is one call, [`run`], with [`embed()`] and [`cluster()`] for its halves; a [`Session`]
//! keeps a loaded model (and its device) across stages. Configuration is plain structs
//! ([`RunConfig`] and its parts) checked once into `Valid*` types ([`config`]).
//!
//! ```no_run
//! let config = newsclust::RunConfig {
//!     input: newsclust::InputConfig::new("datasets/tech_news_sample.jsonl"),
//!     clustering: newsclust::ClusteringConfig {
//!         k: newsclust::KChoice::Fixed(8),
//!         ..Default::default()
//!     },
//!     out: "out/sample".into(),
//!     ..Default::default()
//! };
//! for topic in newsclust::run(&config)?.topics {
//!     println!("{} ({} articles)", topic.label, topic.size);
//! }
//! # Ok::<(), newsclust::Error>(())
//! ```
//!
//! The stages, each behind a small trait where it can be swapped: reading ([`io`]), embedding
//! ([`embed::Embedder`]), clustering ([`cluster::Clusterer`]) and naming ([`topics::Labeler`]);
//! [`pipeline`] puts them together into jobs.

pub mod bench;
pub mod cluster;
pub mod config;
pub mod device;
pub mod embed;
mod error;
pub mod eval;
pub mod io;
pub mod matrix;
pub mod model;
pub mod pipeline;
pub mod progress;
pub mod report;
mod session;
pub mod setting;
pub mod topics;

pub use cluster::{Algorithm, KChoice};
pub use config::{
    ClusterConfig, ClusteringConfig, ComputeConfig, EmbedConfig, InputConfig, ModelSettings,
    NamingMode, RunConfig, ThemesFrom, TopicConfig,
};
pub use error::Error;
pub use report::{EmbedSummary, RunReport, TopicRun};
pub use session::{cluster, embed, run, Embedded, Session};

/// The crate version, written into every output's metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
