//! Clustering the embeddings: one [`Clusterer`] trait, k-means and HDBSCAN behind it.
//!
//! Input is the N × D matrix of L2-normalized embeddings; output is one `Option<usize>` per row
//! (`None` = noise), topics numbered by size, largest first.

mod auto_k;
#[cfg(feature = "cuda")]
mod cuda;
pub mod error;
mod hdbscan;
pub mod kmeans;
pub mod pca;
pub(crate) mod rng;
pub mod tree;

pub use auto_k::{choose_k, KScore};
pub use error::ClusterError;
pub use hdbscan::{HdbscanClusterer, HdbscanParams};
pub use kmeans::{KMeansKernels, KMeansParams};
pub use pca::Pca;

use crate::matrix::{dot, Matrix};
use crate::setting::{Invalid, Rule, Setting};

/// Which algorithm clusters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Kmeans,
    Hdbscan,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Kmeans => "kmeans",
            Algorithm::Hdbscan => "hdbscan",
        }
    }
}

/// k-means' number of topics: fixed, or chosen over a range from topic trees on a sample
/// (`auto_k.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KChoice {
    Fixed(usize),
    Auto { min: usize, max: usize },
}

impl KChoice {
    /// `auto`: k in 2..=40.
    pub const AUTO: KChoice = KChoice::Auto { min: 2, max: 40 };

    /// k ≥ 1; a range of at least 2 that is not empty.
    pub fn check(self) -> Result<Self, Invalid> {
        match self {
            KChoice::Fixed(k) => Invalid::at_least(Setting::K, k, 1),
            KChoice::Auto { min, max } => {
                Invalid::at_least(Setting::K, min, 2)?;
                Invalid::at_least(Setting::K, max, min)
            }
        }?;
        Ok(self)
    }
}

impl std::str::FromStr for KChoice {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "auto" {
            return Ok(KChoice::AUTO);
        }
        s.trim()
            .parse()
            .map(KChoice::Fixed)
            .map_err(|_| Invalid::new(Setting::K, Rule::NumberOrAuto, format!("'{s}'")))
    }
}

impl serde::Serialize for KChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            KChoice::Fixed(k) => s.serialize_u64(k as u64),
            KChoice::Auto { min, max } => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("auto", &[min, max])?;
                map.end()
            }
        }
    }
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

/// What a clusterer found.
#[derive(Clone, Debug, PartialEq)]
pub struct Clustering {
    pub assignments: Assignments,
    /// `k auto`: the stability, silhouette and score of every k tried.
    pub k_scores: Vec<KScore>,
    /// Noise rows given the nearest topic afterwards (HDBSCAN).
    pub reassigned: usize,
}

impl Clustering {
    fn of(assignments: Assignments) -> Self {
        Self {
            assignments,
            k_scores: Vec::new(),
            reassigned: 0,
        }
    }
}

/// One clustering algorithm, over unit-length rows.
pub trait Clusterer {
    fn cluster(&self, data: &Matrix) -> Result<Clustering, ClusterError>;
    /// Where it computes: `cpu` or `cuda:N`.
    fn device_name(&self) -> String {
        "cpu".to_string()
    }
}

/// The documented fallback when every row is the same vector (there is nothing to split): one
/// topic, with a warning.
fn one_topic_if_identical(data: &Matrix) -> Option<Assignments> {
    let n = data.rows();
    if (1..n).all(|i| data.row(i) == data.row(0)) {
        tracing::warn!("all {n} embeddings are identical: one topic");
        return Some(Assignments::from_labels(vec![Some(0); n]));
    }
    None
}

/// Rows past which k-means runs in mini-batches (of [`MINI_BATCH_ROWS`]) unless told otherwise.
const MINI_BATCH_FROM: usize = 100_000;
const MINI_BATCH_ROWS: usize = 4096;
/// Rows `k auto` samples to choose on.
const AUTO_K_SAMPLE: usize = 10_000;

/// k-means with a fixed or chosen k, on the CPU or (with a device) on a GPU.
pub struct KMeansClusterer {
    pub k: KChoice,
    pub params: KMeansParams,
    /// A GPU for Lloyd's iterations, and the kernels to use there.
    pub device: Option<(candle_core::Device, KMeansKernels)>,
}

impl Clusterer for KMeansClusterer {
    fn cluster(&self, data: &Matrix) -> Result<Clustering, ClusterError> {
        let n = data.rows();
        if let KChoice::Fixed(k) = self.k {
            if k > n {
                return Err(ClusterError::TooFewPoints {
                    k,
                    n,
                    setting: Setting::K,
                });
            }
        }
        if let Some(one) = one_topic_if_identical(data) {
            return Ok(Clustering::of(one));
        }
        let (k, k_scores) = self.choose(data)?;
        let params = if n >= MINI_BATCH_FROM {
            self.params.or_mini_batch(MINI_BATCH_ROWS)
        } else {
            self.params.clone()
        };
        let fit = kmeans::fit_on(data, k, &params, self.place())?;
        Ok(Clustering {
            assignments: Assignments::from_labels(fit.labels.into_iter().map(Some).collect()),
            k_scores,
            reassigned: 0,
        })
    }

    fn device_name(&self) -> String {
        match &self.device {
            Some((device, _)) => crate::device::describe(device),
            None => "cpu".to_string(),
        }
    }
}

impl KMeansClusterer {
    /// k as given, or chosen on (a sample of) `data` (`auto_k.rs`), with the scores of each k.
    fn choose(&self, data: &Matrix) -> Result<(usize, Vec<KScore>), ClusterError> {
        Ok(match self.k {
            KChoice::Fixed(k) => (k, Vec::new()),
            KChoice::Auto { min, max } => {
                let n = data.rows();
                let quick = self.params.for_scoring();
                let (k, scores) = choose_k(data, min..=max, AUTO_K_SAMPLE, &quick)?;
                for s in &scores {
                    let score = s.score.map_or("-".to_string(), |v| format!("{v:.4}"));
                    tracing::info!(
                        "k auto: k = {:>2}  stability {:.3}  silhouette {:.4}  score {score}",
                        s.k,
                        s.stability,
                        s.silhouette
                    );
                }
                tracing::info!("k auto: chose k = {k} (the level whose next finer count loses the most stability, from {} fine fits' topic trees on {} sampled articles, half of them on subsamples)", 2 * auto_k::FITS, AUTO_K_SAMPLE.min(n));
                (k, scores)
            }
        })
    }

    /// Where Lloyd's steps run.
    pub fn place(&self) -> kmeans::Place<'_> {
        match &self.device {
            Some((device, kernels)) => kmeans::Place::Device(device, *kernels),
            None => kmeans::Place::Cpu,
        }
    }

    /// The start of a streamed k-means: k (chosen on `sample` under `auto`) and k-means fitted
    /// on `sample`, unit rows drawn from `total` rows, with Lloyd's full iterations (no
    /// mini-batches: the sample is small).
    pub fn fit_sample(
        &self,
        sample: &Matrix,
        total: usize,
    ) -> Result<(kmeans::KMeansFit, Vec<KScore>), ClusterError> {
        if let KChoice::Fixed(k) = self.k {
            if k > total {
                return Err(ClusterError::TooFewPoints {
                    k,
                    n: total,
                    setting: Setting::K,
                });
            }
            if k > sample.rows() {
                return Err(ClusterError::TooFewPoints {
                    k,
                    n: sample.rows(),
                    setting: Setting::StreamSample,
                });
            }
        }
        let (k, k_scores) = self.choose(sample)?;
        let params = KMeansParams::new(
            self.params.n_init(),
            self.params.max_iter(),
            self.params.tol(),
            self.params.seed(),
            None,
        )?;
        let fit = kmeans::fit_on(sample, k, &params, self.place())?;
        Ok((fit, k_scores))
    }
}

/// Unit-length mean of each topic's rows (k × D).
pub fn centroids(data: &Matrix, assignments: &Assignments) -> Matrix {
    let (mut m, _) = sums(data, assignments);
    m.normalize_rows();
    m
}

/// Mean of each topic's rows (k × D; an empty topic's is zero).
pub fn means(data: &Matrix, assignments: &Assignments) -> Matrix {
    let (sums, counts) = sums(data, assignments);
    let d = sums.dim();
    let mut values = sums.into_vec();
    for (row, &n) in values.chunks_exact_mut(d).zip(&counts) {
        if n > 0 {
            row.iter_mut().for_each(|v| *v /= n as f32);
        }
    }
    Matrix::new(values, d).expect("k × d")
}

/// The sum and the number of each topic's rows, summed in f64 (a large topic's f32 sum would
/// lose the low bits of its later rows).
fn sums(data: &Matrix, assignments: &Assignments) -> (Matrix, Vec<usize>) {
    let d = data.dim();
    let mut sums = vec![0f64; assignments.topics * d];
    let mut counts = vec![0usize; assignments.topics];
    for (i, l) in assignments.labels.iter().enumerate() {
        if let Some(t) = l {
            counts[*t] += 1;
            for (s, v) in sums[t * d..(t + 1) * d].iter_mut().zip(data.row(i)) {
                *s += f64::from(*v);
            }
        }
    }
    let sums = sums.into_iter().map(|v| v as f32).collect();
    let m = Matrix::new(sums, d).unwrap_or_else(|| Matrix::new(vec![0.0; d], d).expect("d > 0"));
    (m, counts)
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
