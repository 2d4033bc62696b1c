//! newsclust: tech-news articles in, sentence embeddings (and later named topic groups) out.
//!
//! The library is usable without the command line: read articles with [`io::ArticleReader`],
//! resolve a model with [`model::resolve`], embed with [`embed::Embedder`], or run the whole
//! embedding job with [`pipeline::run_embed`].

pub mod bench;
pub mod cluster;
pub mod device;
pub mod embed;
pub mod eval;
pub mod io;
pub mod matrix;
pub mod model;
pub mod pipeline;
pub mod progress;
pub mod topics;

/// The crate version, written into every output's metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
