//! Clustering the embeddings: one [`Clusterer`] trait, k-means and HDBSCAN behind it.
//!
//! Input is the N × D matrix of L2-normalized embeddings; output is one `Option<usize>` per row
//! (`None` = noise), topics numbered by size, largest first.

mod auto_k;
#[cfg(feature = "cuda")]
mod cuda;
pub mod device_kmeans;
mod hdbscan;
pub mod kmeans;
mod pca;
pub(crate) mod rng;

pub use auto_k::{choose_k, KScore};
pub use hdbscan::{HdbscanClusterer, HdbscanParams};
pub use kmeans::KMeansParams;
pub use pca::Pca;

use crate::matrix::{dot, Matrix};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid clustering parameters: {0}")]
    Params(String),
    #[error("cannot make {k} clusters from {n} articles; use a smaller --k")]
    TooFewPoints { k: usize, n: usize },
    #[error("HDBSCAN failed: {0}")]
    Hdbscan(String),
    #[error("k-means on the device failed: {0}")]
    Device(String),
}

/// Which algorithm `--algorithm` picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Kmeans,
    Hdbscan,
}

/// The topic of each row (`None`: noise) and the number of topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignments {
    pub labels: Vec<Option<usize>>,
    pub topics: usize,
}

impl Assignments {
    /// Renumbers topics by size (largest first; ties by first appearance), dropping empty ones.
    pub fn from_labels(labels: Vec<Option<usize>>) -> Self {
        let max = labels.iter().flatten().max().map_or(0, |m| m + 1);
        let mut sizes = vec![0usize; max];
        let mut first = vec![usize::MAX; max];
        for (i, l) in labels.iter().enumerate() {
            if let Some(l) = *l {
                sizes[l] += 1;
                first[l] = first[l].min(i);
            }
        }
        let mut order: Vec<usize> = (0..max).filter(|&t| sizes[t] > 0).collect();
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(first[a].cmp(&first[b])));
        let mut rename = vec![None; max];
        for (new, &old) in order.iter().enumerate() {
            rename[old] = Some(new);
        }
        Self {
            labels: labels
                .into_iter()
                .map(|l| l.and_then(|l| rename[l]))
                .collect(),
            topics: order.len(),
        }
    }

    pub fn unassigned(&self) -> usize {
        self.labels.iter().filter(|l| l.is_none()).count()
    }

    /// Row indices of each topic.
    pub fn members(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.topics];
        for (i, l) in self.labels.iter().enumerate() {
            if let Some(t) = l {
                out[*t].push(i);
            }
        }
        out
    }
}

/// One clustering algorithm.
pub trait Clusterer {
    fn cluster(&self, data: &Matrix) -> Result<Assignments, ClusterError>;
}

/// k-means with a fixed k, on the CPU or (with a device) on a GPU.
pub struct KMeansClusterer(pub KMeansParams, pub Option<candle_core::Device>);

impl Clusterer for KMeansClusterer {
    fn cluster(&self, data: &Matrix) -> Result<Assignments, ClusterError> {
        let fit = kmeans::fit_on(data, &self.0, self.1.as_ref())?;
        Ok(Assignments::from_labels(
            fit.labels.into_iter().map(Some).collect(),
        ))
    }
}

/// Unit-length mean of each topic's rows (k × D).
pub fn centroids(data: &Matrix, assignments: &Assignments) -> Matrix {
    let d = data.dim();
    let mut sums = vec![0f32; assignments.topics * d];
    for (i, l) in assignments.labels.iter().enumerate() {
        if let Some(t) = l {
            for (s, v) in sums[t * d..(t + 1) * d].iter_mut().zip(data.row(i)) {
                *s += v;
            }
        }
    }
    let mut m =
        Matrix::new(sums, d).unwrap_or_else(|| Matrix::new(vec![0.0; d], d).expect("d > 0"));
    m.normalize_rows();
    m
}

/// Gives each unassigned row the topic whose centroid is most similar, when that cosine
/// similarity is at least `threshold`. Returns how many rows were reassigned.
pub fn reassign_outliers(data: &Matrix, assignments: &mut Assignments, threshold: f32) -> usize {
    if assignments.topics == 0 {
        return 0;
    }
    let c = centroids(data, assignments);
    let mut moved = 0;
    for (i, l) in assignments.labels.iter_mut().enumerate() {
        if l.is_none() {
            let (best, sim) = (0..c.rows())
                .map(|t| (t, dot(data.row(i), c.row(t))))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("at least one topic");
            if sim >= threshold {
                *l = Some(best);
                moved += 1;
            }
        }
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_numbered_by_size() {
        let a = Assignments::from_labels(vec![
            Some(5),
            Some(2),
            None,
            Some(2),
            Some(7),
            Some(2),
            Some(5),
        ]);
        assert_eq!(
            a.labels,
            vec![Some(1), Some(0), None, Some(0), Some(2), Some(0), Some(1)]
        );
        assert_eq!(a.topics, 3);
        assert_eq!(a.unassigned(), 1);
        assert_eq!(a.members()[1], vec![0, 6]);
    }

    #[test]
    fn outliers_join_a_close_topic_only() {
        let data = Matrix::new(vec![1., 0., 1., 0., 0.8, 0.6, 0., 1.], 2).unwrap();
        let mut a = Assignments::from_labels(vec![Some(0), Some(0), None, None]);
        let moved = reassign_outliers(&data, &mut a, 0.5);
        assert_eq!(moved, 1);
        assert_eq!(a.labels, vec![Some(0), Some(0), Some(0), None]);
    }
}
