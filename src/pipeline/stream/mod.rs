//! The clustering job past memory (`cluster --stream`): the embeddings are read in passes, a
//! batch at a time, and never held.
//!
//! 1. **Sample** (one pass): about `--stream-sample` rows, drawn by a hash of the row number and
//!    the seed, are kept; the dates are scanned for their span. k-means (k-means++, Lloyd's
//!    iterations, `--n-init` restarts; `--k auto` scores k there) is fitted on the sample.
//! 2. **Refine** (up to `--passes` passes): Lloyd steps over every row, each summing the rows
//!    per centre ([`LloydPass`]), until the centres move less than `--tol` (scaled as
//!    scikit-learn does, by the sample's variance).
//! 3. **Gather** (one pass): each row's nearest centre; per topic, the sums (the centroid), the
//!    size, the c-TF-IDF term counts, an even sample of documents for phrases and themes, and
//!    the (topic, period) counts.
//! 4. **Write** (one pass): the same nearest centres again, numbered by size, written to
//!    `documents.parquet` batch by batch, with each topic's documents nearest its centroid kept
//!    as representatives.
//!
//! Memory: k × D sums, one batch, the samples (at most 500 documents a topic, fewer past 200
//! topics), the vocabulary, and 8 bytes a row for the duplicate-id check.

mod gather;
mod write;

use std::time::Instant;

use candle_core::Device;

use crate::cluster::kmeans::{in_sample, mean_variance, LloydPass};
use crate::cluster::{KMeansClusterer, KScore};
use crate::config::{StreamChoice, ValidCluster};
use crate::error::Error;
use crate::io::embeddings_in::{DocBatch, EmbeddingsFiles, Want};
use crate::matrix::Matrix;
use crate::report::Streamed;
use crate::topics::over_time::{Cells, DateCounts, DateScan};

pub use write::name_and_write;

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// Whether `cluster` streams `files` under `config`.
pub fn streams(config: &ValidCluster, files: &EmbeddingsFiles) -> bool {
    let given = config.clustering.config();
    let kmeans = config.clustering.kmeans().is_some();
    match given.stream {
        StreamChoice::On => kmeans,
        StreamChoice::Off => false,
        StreamChoice::Auto => {
            let bytes = files.rows() as u64 * files.dim().unwrap_or(0) as u64 * 4;
            kmeans && bytes > StreamChoice::AUTO_FROM_BYTES
        }
    }
}

/// The centres the sample and the passes gave.
pub struct Fitted {
    pub(super) centres: Matrix,
    pub(super) k_scores: Vec<KScore>,
    pub(super) report: Streamed,
    /// With a date column: the cells to count in (none when no date was readable) and the counts.
    pub(super) dates: Option<(Option<Cells>, DateCounts)>,
    /// The clusterer fitted, for the passes after (on its device).
    pub(super) kmeans: KMeansClusterer,
}

/// The k-means clusterer `config` describes, on `device` when it is a GPU.
fn clusterer(config: &ValidCluster, device: &Device) -> KMeansClusterer {
    let (k, params, kernels) = config.clustering.kmeans().expect("streams k-means only");
    KMeansClusterer {
        k,
        params: params.clone(),
        device: (!device.is_cpu()).then(|| (device.clone(), kernels)),
    }
}

/// Steps 1 and 2: the sample, its fit and the refining passes.
pub fn fit(
    files: &EmbeddingsFiles,
    config: &ValidCluster,
    device: &Device,
) -> Result<Fitted, Error> {
    let clustering = config.clustering.config();
    let kmeans = clusterer(config, device);
    let t = Instant::now();
    let n = files.rows();
    if n == 0 {
        return Err(Error::NoDocuments {
            inputs: config.given.embeddings.clone(),
        });
    }
    let want = Want {
        vectors: true,
        text: false,
        meta: files.has_dates(),
    };
    let mut values = Vec::new();
    let mut scan = DateScan::default();
    let dim = files.pass(want, BATCH_ROWS, |batch: DocBatch| {
        for i in 0..batch.rows {
            if in_sample(
                batch.first + i,
                n,
                clustering.stream_sample,
                clustering.seed,
            ) {
                values.extend_from_slice(batch.vectors.row(i));
            }
        }
        for date in batch.dates.iter().flatten() {
            scan.add(date.as_deref());
        }
        Ok::<(), Error>(())
    })?;
    let dim = dim.unwrap_or(1);
    let mut sample = Matrix::new(values, dim).ok_or(Error::NoDocuments {
        inputs: config.given.embeddings.clone(),
    })?;
    sample.normalize_rows();
    let (start, k_scores) = kmeans.fit_sample(&sample, n)?;
    let tolerance = clustering.tol * mean_variance(&sample);
    let seconds_sample = t.elapsed().as_secs_f64();
    tracing::info!(
        "streaming: k-means fitted on {} sampled rows of {n} ({seconds_sample:.1} s); refining in passes",
        sample.rows()
    );
    drop(sample);
    let t = Instant::now();
    let mut centres = start.centroids;
    let (mut passes, mut last_shift) = (0, f64::INFINITY);
    while passes < clustering.passes {
        let mut pass = LloydPass::new(&centres, kmeans.place());
        files.pass(Want::VECTORS, BATCH_ROWS, |mut batch: DocBatch| {
            batch.vectors.normalize_rows();
            pass.add(&batch.vectors)?;
            Ok::<(), Error>(())
        })?;
        let inertia = pass.inertia();
        let (next, shift) = pass.finish();
        passes += 1;
        last_shift = shift;
        tracing::info!("streaming: pass {passes}: inertia {inertia:.1}, centre shift {shift:.3e}");
        centres = next;
        if shift <= tolerance {
            break;
        }
    }
    let dates = files
        .has_dates()
        .then(|| scan.periods(config.topics.config().time_bins));
    Ok(Fitted {
        centres,
        k_scores,
        report: Streamed {
            sample_rows: start.labels.len(),
            passes,
            last_shift,
            tolerance,
            seconds_sample,
            seconds_passes: t.elapsed().as_secs_f64(),
        },
        dates,
        kmeans,
    })
}
