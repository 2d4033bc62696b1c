//! What can go wrong while clustering.

use crate::setting::{Invalid, Setting};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// `setting` is what sets `k`: the number of topics, or HDBSCAN's smallest topic.
    #[error("cannot make {k} clusters from {n} articles; use a smaller {setting}")]
    TooFewPoints {
        k: usize,
        n: usize,
        setting: Setting,
    },
    #[error("{setting} auto needs at least {min} articles, got {n}")]
    TooFewToChoose {
        n: usize,
        min: usize,
        setting: Setting,
    },
    #[error("no k to try in {min}..={max} with {rows} articles")]
    NoKToTry { min: usize, max: usize, rows: usize },
    #[error("HDBSCAN failed: {source}")]
    Hdbscan {
        #[source]
        source: hdbscan::HdbscanError,
    },
    #[error("{setting} {to}: the earlier output has {topics} topics, so there is nothing to merge down to {to}; give at most {topics}")]
    ReduceUp {
        to: usize,
        topics: usize,
        setting: Setting,
    },
    #[error("vectors of {rows} values cannot be assigned to centres of {centres}")]
    Dimensions { rows: usize, centres: usize },
    #[error("k-means on the device failed: {source}")]
    Device {
        #[source]
        source: candle_core::Error,
    },
}
