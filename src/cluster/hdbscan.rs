//! HDBSCAN (Campello, Moulavi & Sander 2013) through the `hdbscan` crate, on embeddings reduced
//! by PCA, with noise left as `None` (outlier reassignment is a separate step).

use super::pca::Pca;
use super::{Assignments, ClusterError, Clusterer};
use crate::matrix::Matrix;

/// Checked HDBSCAN parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct HdbscanParams {
    min_cluster_size: usize,
    min_samples: usize,
    reduce_dims: Option<usize>,
    /// A grouping larger than this share of the articles is never one topic (its children are).
    max_share: f64,
    seed: u64,
}

impl HdbscanParams {
    /// `min_cluster_size` ≥ 2; `min_samples` ≥ 1 (default: `min_cluster_size`); `reduce_dims` ≥ 1.
    pub fn new(
        min_cluster_size: usize,
        min_samples: Option<usize>,
        reduce_dims: Option<usize>,
        max_share: f64,
        seed: u64,
    ) -> Result<Self, ClusterError> {
        if !(max_share > 0.0 && max_share <= 1.0) {
            return Err(ClusterError::Params(
                "--max-cluster-share must be in (0, 1]".into(),
            ));
        }
        if min_cluster_size < 2 {
            return Err(ClusterError::Params(
                "--min-cluster-size must be at least 2".into(),
            ));
        }
        if min_samples == Some(0) {
            return Err(ClusterError::Params(
                "--min-samples must be at least 1".into(),
            ));
        }
        if reduce_dims == Some(0) {
            return Err(ClusterError::Params(
                "--reduce-dims must be at least 1".into(),
            ));
        }
        Ok(Self {
            min_cluster_size,
            min_samples: min_samples.unwrap_or(min_cluster_size),
            reduce_dims,
            max_share,
            seed,
        })
    }
}

pub struct HdbscanClusterer(pub HdbscanParams);

impl Clusterer for HdbscanClusterer {
    fn cluster(&self, data: &Matrix) -> Result<Assignments, ClusterError> {
        let p = &self.0;
        let n = data.rows();
        if n < p.min_cluster_size {
            return Err(ClusterError::TooFewPoints {
                k: p.min_cluster_size,
                n,
            });
        }
        let reduced = match p.reduce_dims {
            Some(dims) if dims < data.dim() => Pca::fit(data, dims, p.seed).transform(data),
            _ => data.clone(),
        };
        let rows: Vec<Vec<f32>> = (0..n).map(|i| reduced.row(i).to_vec()).collect();
        let max_size = ((p.max_share * n as f64).ceil() as usize).max(p.min_cluster_size + 1);
        let mut hp = hdbscan::HdbscanHyperParams::builder().min_cluster_size(p.min_cluster_size);
        if p.max_share < 1.0 {
            hp = hp.max_cluster_size(max_size);
        }
        let hp = hp.min_samples(p.min_samples.min(n - 1).max(1)).build();
        let labels = hdbscan::Hdbscan::new(&rows, hp)
            .cluster()
            .map_err(|e| ClusterError::Hdbscan(format!("{e:?}")))?;
        Ok(Assignments::from_labels(
            labels
                .into_iter()
                .map(|l| usize::try_from(l).ok())
                .collect(),
        ))
    }
}
