//! k-means on L2-normalized embeddings: k-means++ seeding (`init.rs`), Lloyd iterations
//! (`lloyd.rs`, their steps on the CPU or a device: `device.rs`), `n_init` restarts keeping the
//! lowest inertia, and a mini-batch variant (`mini_batch.rs`) for large inputs. Deterministic
//! for a seed.

mod device;
mod init;
mod lloyd;
mod mini_batch;
mod passes;

pub use device::KMeansKernels;
pub use init::plus_plus;
pub use lloyd::KMeansFit;
pub use passes::{in_sample, LloydPass};

use super::error::ClusterError;
use super::rng::Rng;
use crate::matrix::Matrix;
use crate::setting::{Invalid, Rule, Setting};

/// Checked k-means parameters (k is given to [`fit`]).
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansParams {
    n_init: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    mini_batch: Option<usize>,
}

impl KMeansParams {
    /// `n_init` ≥ 1, `max_iter` ≥ 1, `tol` ≥ 0 and finite, `mini_batch` (rows per step) ≥ 1.
    pub fn new(
        n_init: usize,
        max_iter: usize,
        tol: f64,
        seed: u64,
        mini_batch: Option<usize>,
    ) -> Result<Self, Invalid> {
        Invalid::at_least(Setting::NInit, n_init, 1)?;
        Invalid::at_least(Setting::MaxIter, max_iter, 1)?;
        if !(tol.is_finite() && tol >= 0.0) {
            return Err(Invalid::new(Setting::Tol, Rule::FiniteNonNegative, tol));
        }
        if let Some(rows) = mini_batch {
            Invalid::at_least(Setting::MiniBatch, rows, 1)?;
        }
        Ok(Self {
            n_init,
            max_iter,
            tol,
            seed,
            mini_batch,
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn n_init(&self) -> usize {
        self.n_init
    }

    pub fn max_iter(&self) -> usize {
        self.max_iter
    }

    pub fn tol(&self) -> f64 {
        self.tol
    }

    /// Mini-batches of `rows` rows unless a size was given.
    pub fn or_mini_batch(&self, rows: usize) -> Self {
        Self {
            mini_batch: self.mini_batch.or(Some(rows.max(1))),
            ..self.clone()
        }
    }

    /// The quick settings that scoring many k uses: at most 3 restarts, full batches.
    pub fn for_scoring(&self) -> Self {
        Self {
            n_init: self.n_init.min(3),
            mini_batch: None,
            ..self.clone()
        }
    }
}

/// Where Lloyd's iterations run.
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    Cpu,
    /// On a candle device (a CUDA GPU; the CPU device in tests), with these kernels.
    Device(&'a candle_core::Device, KMeansKernels),
}

/// Runs k clusters of k-means on the CPU. Errors when there are fewer rows than k.
pub fn fit(data: &Matrix, k: usize, params: &KMeansParams) -> Result<KMeansFit, ClusterError> {
    fit_on(data, k, params, Place::Cpu)
}

/// Runs k-means; on a device, Lloyd's iterations run there (seeding stays on the CPU, so the
/// same seed gives the same initial centroids on every device). Mini-batch runs on the CPU.
pub fn fit_on(
    data: &Matrix,
    k: usize,
    params: &KMeansParams,
    place: Place<'_>,
) -> Result<KMeansFit, ClusterError> {
    let n = data.rows();
    Invalid::at_least(Setting::K, k, 1)?;
    if k > n {
        return Err(ClusterError::TooFewPoints {
            k,
            n,
            setting: Setting::K,
        });
    }
    // scikit-learn's tolerance: relative to the mean per-feature variance of the data.
    let tol = params.tol * mean_variance(data);
    let mut best: Option<KMeansFit> = None;
    for run in 0..params.n_init {
        let mut rng = Rng::new(params.seed.wrapping_add(run as u64 * 0x9e37_79b9));
        let init = plus_plus(data, k, &mut rng);
        let fit = match (params.mini_batch, place) {
            (Some(batch), _) if batch < n => {
                mini_batch::mini_batch(data, init, batch, params.max_iter, &mut rng)
            }
            (_, Place::Device(device, kernels)) => {
                let mut steps = device::DeviceSteps::new(device, data, k, kernels)
                    .map_err(|source| ClusterError::Device { source })?;
                lloyd::lloyd(&mut steps, data, init, params.max_iter, tol)?
            }
            _ => lloyd::lloyd(
                &mut lloyd::CpuSteps::new(data),
                data,
                init,
                params.max_iter,
                tol,
            )?,
        };
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    Ok(best.expect("n_init ≥ 1"))
}

/// Lloyd's iterations on the CPU from given centres (no seeding, no restarts), over one set of
/// rows: their squared lengths and the tolerance's scale are worked out once for every start
/// refined ([`Refiner::refine`]).
pub struct Refiner<'a> {
    data: &'a Matrix,
    norms: Vec<f32>,
    max_iter: usize,
    tol: f64,
}

impl<'a> Refiner<'a> {
    /// At most `max_iter` iterations per refinement, stopping at `tol` scaled as in [`fit_on`].
    pub fn new(data: &'a Matrix, max_iter: usize, tol: f64) -> Self {
        Self {
            data,
            norms: lloyd::row_norms(data),
            max_iter: max_iter.max(1),
            tol: tol * mean_variance(data),
        }
    }

    /// Lloyd's iterations from `starts`.
    pub fn refine(&self, starts: Matrix) -> Result<KMeansFit, ClusterError> {
        if starts.dim() != self.data.dim() {
            return Err(ClusterError::Dimensions {
                rows: self.data.dim(),
                centres: starts.dim(),
            });
        }
        lloyd::lloyd(
            &mut lloyd::CpuSteps::with_norms(self.data, self.norms.clone()),
            self.data,
            starts,
            self.max_iter,
            self.tol,
        )
    }
}

/// Lloyd's iterations on the CPU from the given centres (no seeding, no restarts): at most
/// `max_iter` of them, stopping at `tol` scaled as in [`fit_on`]. [`Refiner`] refines many
/// starts over the same rows.
pub fn refine(
    data: &Matrix,
    starts: Matrix,
    max_iter: usize,
    tol: f64,
) -> Result<KMeansFit, ClusterError> {
    Refiner::new(data, max_iter, tol).refine(starts)
}

/// Nearest centre of each row and its squared distance; ties go to the lowest centre.
pub fn assign(data: &Matrix, centroids: &Matrix) -> (Vec<usize>, Vec<f32>) {
    assign_with(data, &row_norms(data), centroids)
}

/// [`assign`] with the rows' squared lengths already worked out ([`row_norms`]), for rows
/// assigned to many sets of centres.
pub fn assign_with(data: &Matrix, norms: &[f32], centroids: &Matrix) -> (Vec<usize>, Vec<f32>) {
    lloyd::nearest(data, norms, centroids)
}

/// Each row's squared length.
pub fn row_norms(data: &Matrix) -> Vec<f32> {
    lloyd::row_norms(data)
}

/// The mean per-feature variance of the rows (scikit-learn scales its tolerance by it).
pub fn mean_variance(data: &Matrix) -> f64 {
    let (n, d) = (data.rows(), data.dim());
    let mut mean = vec![0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(data.row(i)) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = 0f64;
    for i in 0..n {
        for (m, v) in mean.iter().zip(data.row(i)) {
            var += (*v as f64 - m).powi(2);
        }
    }
    var / (n * d) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::sq_dist;

    /// `per` points around each of `centres`, jittered by at most `spread`.
    pub(crate) fn blobs(
        centres: &[[f32; 3]],
        per: usize,
        spread: f32,
        seed: u64,
    ) -> (Matrix, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut data = Vec::new();
        let mut truth = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                for v in centre {
                    data.push(v + spread * (rng.next_f64() as f32 - 0.5));
                }
                truth.push(c);
            }
        }
        (Matrix::new(data, 3).unwrap(), truth)
    }

    fn same_partition(a: &[usize], b: &[usize]) -> bool {
        let mut map = std::collections::HashMap::new();
        a.iter()
            .zip(b)
            .all(|(x, y)| *map.entry(*x).or_insert(*y) == *y)
            && map.values().collect::<std::collections::HashSet<_>>().len() == map.len()
    }

    const CENTRES: [[f32; 3]; 4] = [[10., 0., 0.], [0., 10., 0.], [0., 0., 10.], [10., 10., 10.]];

    #[test]
    fn recovers_separated_blobs_and_is_reproducible() {
        let (data, truth) = blobs(&CENTRES, 50, 1.0, 3);
        let params = KMeansParams::new(5, 100, 1e-4, 42, None).unwrap();
        let a = fit(&data, 4, &params).unwrap();
        assert!(same_partition(&a.labels, &truth), "{:?}", a.labels);
        let b = fit(&data, 4, &params).unwrap();
        assert_eq!(a, b, "same seed, same result");
    }

    #[test]
    fn mini_batch_recovers_blobs_too() {
        let (data, truth) = blobs(&CENTRES, 200, 1.0, 5);
        let params = KMeansParams::new(3, 20, 1e-4, 1, Some(64)).unwrap();
        let fit = fit(&data, 4, &params).unwrap();
        assert!(same_partition(&fit.labels, &truth));
    }

    #[test]
    fn rejects_bad_parameters_and_k_above_n() {
        assert!(KMeansParams::new(0, 1, 0.0, 0, None).is_err());
        assert!(KMeansParams::new(1, 1, f64::NAN, 0, None).is_err());
        let (data, _) = blobs(&CENTRES[..1], 3, 1.0, 1);
        let params = KMeansParams::new(1, 10, 0.0, 0, None).unwrap();
        assert!(fit(&data, 0, &params).is_err(), "k = 0");
        let err = fit(&data, 5, &params).unwrap_err();
        assert!(
            err.to_string().contains("5 clusters") && err.to_string().contains("3"),
            "{err}"
        );
    }

    #[test]
    fn assign_picks_the_nearest_centre_of_every_row() {
        // More rows than one block, unit rows as the pipeline gives them.
        let mut rng = Rng::new(11);
        let (n, k, d) = (1000, 13, 24);
        let mut data =
            Matrix::new((0..n * d).map(|_| rng.next_f64() as f32 - 0.5).collect(), d).unwrap();
        data.normalize_rows();
        let centroids = data.select(&(0..k).map(|c| c * 71).collect::<Vec<_>>());
        let (labels, dists) = assign(&data, &centroids);
        for i in 0..n {
            let exact: Vec<f32> = (0..k)
                .map(|c| sq_dist(data.row(i), centroids.row(c)))
                .collect();
            let best = exact.iter().copied().fold(f32::INFINITY, f32::min);
            // The chosen centre is the nearest, up to rounding of the expanded distance.
            assert!(
                exact[labels[i]] <= best + 1e-5,
                "row {i}: {} vs {best}",
                exact[labels[i]]
            );
            assert!((dists[i] - exact[labels[i]]).abs() < 1e-5, "row {i}");
        }
    }

    #[test]
    fn identical_points_do_not_break_it() {
        let data = Matrix::new(vec![1.0; 30], 3).unwrap();
        let fit = fit(&data, 3, &KMeansParams::new(2, 10, 1e-4, 0, None).unwrap()).unwrap();
        assert_eq!(fit.labels.len(), 10);
        assert!(fit.inertia.abs() < 1e-9);
    }
}
