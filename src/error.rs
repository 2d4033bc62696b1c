//! The library's one error type: each stage's own error, and what the jobs between them find.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::io::{BadRecord, ReadError};
use crate::setting::Setting;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Embed(#[from] crate::embed::EmbedError),
    #[error(transparent)]
    Write(#[from] crate::io::WriteError),
    #[error(transparent)]
    Lock(#[from] crate::io::lock::LockError),
    #[error(transparent)]
    Checkpoint(#[from] crate::io::checkpoint::CheckpointError),
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    EmbeddingsRead(#[from] crate::io::embeddings_in::EmbeddingsReadError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Naming(#[from] crate::topics::NameError),
    #[error(transparent)]
    Earlier(#[from] crate::io::topics_in::EarlierError),
    #[error("{bad} ({} makes any bad record fatal)", Setting::Strict)]
    Strict { bad: BadRecord },
    #[error("no article could be embedded: {}", nothing_embedded(*skipped))]
    NothingEmbedded { skipped: u64 },
    #[error("{}: no documents to cluster", names(inputs))]
    NoDocuments { inputs: Vec<PathBuf> },
    #[error(
        "{}: no text to embed (no records, or every one bad or empty)",
        names(inputs)
    )]
    NoText { inputs: Vec<PathBuf> },
    #[error("{}: made with model '{got}' ({got_dim}-d), but {m} is '{want}' ({want_dim}-d); embed again or drop {m}", names(inputs), m = Setting::Model)]
    OtherModel {
        inputs: Vec<PathBuf>,
        got: String,
        got_dim: usize,
        want: String,
        want_dim: usize,
    },
    /// A thread of a job ended by a panic (a bug: its message went to standard error).
    #[error("{0} panicked")]
    Panicked(&'static str),
}

/// Why a job embedded nothing, from the records it skipped.
fn nothing_embedded(skipped: u64) -> String {
    match skipped {
        0 => "the input holds no records".into(),
        1 => "its one record was skipped".into(),
        n => format!("all {n} records were skipped"),
    }
}

fn names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}
