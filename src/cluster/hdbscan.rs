//! HDBSCAN (Campello, Moulavi & Sander 2013) through the `hdbscan` crate, on embeddings reduced
//! by PCA, with noise left as `None` (outlier reassignment is a separate step).

use super::error::ClusterError;
use super::pca::Pca;
use super::{one_topic_if_identical, reassign_outliers, Assignments, Clusterer, Clustering};
use crate::matrix::Matrix;
use crate::setting::{Invalid, Rule, Setting};

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
    ) -> Result<Self, Invalid> {
        if !(max_share > 0.0 && max_share <= 1.0) {
            return Err(Invalid::new(
                Setting::MaxClusterShare,
                Rule::Share,
                max_share,
            ));
        }
        Invalid::at_least(Setting::MinClusterSize, min_cluster_size, 2)?;
        if let Some(m) = min_samples {
            Invalid::at_least(Setting::MinSamples, m, 1)?;
        }
        if let Some(d) = reduce_dims {
            Invalid::at_least(Setting::ReduceDims, d, 1)?;
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

/// HDBSCAN; with `reassign`, noise rows then join the topic whose centroid is most similar when
/// the cosine similarity is at least that.
pub struct HdbscanClusterer {
    pub params: HdbscanParams,
    pub reassign: Option<f32>,
}

impl Clusterer for HdbscanClusterer {
    fn cluster(&self, data: &Matrix) -> Result<Clustering, ClusterError> {
        let n = data.rows();
        let mut assignments = match one_topic_if_identical(data) {
            Some(one) => one,
            None => self.clusters(data)?,
        };
        if assignments.topics == 0 {
            tracing::warn!("HDBSCAN found no cluster (all {n} articles are noise); putting them all in one topic");
            assignments = Assignments::from_labels(vec![Some(0); n]);
        }
        let reassigned = match self.reassign {
            Some(threshold) => reassign_outliers(data, &mut assignments, threshold),
            None => 0,
        };
        Ok(Clustering {
            assignments,
            k_scores: Vec::new(),
            reassigned,
        })
    }
}

impl HdbscanClusterer {
    fn clusters(&self, data: &Matrix) -> Result<Assignments, ClusterError> {
        let p = &self.params;
        let n = data.rows();
        if n < p.min_cluster_size {
            return Err(ClusterError::TooFewPoints {
                k: p.min_cluster_size,
                n,
                setting: Setting::MinClusterSize,
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
            .map_err(|source| ClusterError::Hdbscan { source })?;
        Ok(Assignments::from_labels(
            labels
                .into_iter()
                .map(|l| usize::try_from(l).ok())
                .collect(),
        ))
    }
}
