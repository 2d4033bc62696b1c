//! Lloyd's k-means on a candle device (a CUDA GPU, or the CPU for tests): the assignment step is
//! one matrix product (‖x‖² + ‖c‖² − 2·X·Cᵀ, arg-min per row), the update step another (one-hot
//! assignments transposed times X). Same seeding, empty-cluster rule and stopping rule as the
//! CPU k-means, so on well-separated data both give identical assignments. On CUDA the arg-min
//! and the one-hot matrix are our kernels (`cuda/`: no JIT compiling on a new machine); elsewhere,
//! or with `NEWSCLUST_KMEANS_KERNELS=0`, candle's ops. The centres' update (k × D) and the
//! stopping test run on the host.

use candle_core::{DType, Device, Tensor, D};

use super::kmeans::{centre_shift, farthest_untaken, row_norms, KMeansFit};
use crate::matrix::Matrix;

/// The steps between the two products.
enum Steps {
    /// candle's ops, on any device; `ids` is 0..k as a 1 × k row.
    Candle { ids: Tensor },
    #[cfg(feature = "cuda")]
    Kernels(super::cuda::KMeansKernels),
}

impl Steps {
    fn new(device: &Device, k: usize) -> candle_core::Result<Self> {
        #[cfg(feature = "cuda")]
        if let Device::Cuda(dev) = device {
            if std::env::var("NEWSCLUST_KMEANS_KERNELS").as_deref() != Ok("0") {
                match super::cuda::KMeansKernels::load(dev) {
                    Ok(kernels) => return Ok(Self::Kernels(kernels)),
                    Err(e) => {
                        tracing::warn!("cannot load the k-means kernels ({e}); using candle's ops")
                    }
                }
            }
        }
        Ok(Self::Candle {
            ids: Tensor::arange(0u32, k as u32, device)?.unsqueeze(0)?,
        })
    }

    /// Each row's nearest centre (u32, n) and its squared distance (f32, n), given the rows'
    /// squared norms `xx` (n) and the centres' `cc` (k): the first of equally near centres.
    fn assign(
        &self,
        x: &Tensor,
        xx: &Tensor,
        c: &Tensor,
        cc: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let p = x.matmul(&c.t()?)?;
        match self {
            Self::Candle { .. } => {
                let dist = xx
                    .unsqueeze(1)?
                    .broadcast_add(&cc.unsqueeze(0)?)?
                    .broadcast_sub(&(p * 2.0)?)?
                    .clamp(0f32, f32::MAX)?;
                let labels = dist.argmin_keepdim(D::Minus1)?;
                let best = dist.gather(&labels, D::Minus1)?;
                Ok((labels.squeeze(1)?, best.squeeze(1)?))
            }
            #[cfg(feature = "cuda")]
            Self::Kernels(kernels) => kernels.assign(&p, cc, xx),
        }
    }

    /// The n × k one-hot matrix (f32) of `labels`.
    fn onehot(&self, labels: &Tensor, k: usize) -> candle_core::Result<Tensor> {
        match self {
            Self::Candle { ids } => {
                debug_assert_eq!(ids.elem_count(), k);
                labels.unsqueeze(1)?.broadcast_eq(ids)?.to_dtype(DType::F32)
            }
            #[cfg(feature = "cuda")]
            Self::Kernels(kernels) => kernels.onehot(labels, k),
        }
    }
}

/// Runs Lloyd iterations from `init` (k × D) on `device`.
pub fn lloyd_on(
    device: &Device,
    data: &Matrix,
    init: &Matrix,
    max_iter: usize,
    tol: f64,
) -> candle_core::Result<KMeansFit> {
    let (n, d, k) = (data.rows(), data.dim(), init.rows());
    let x = Tensor::from_slice(data.as_slice(), (n, d), device)?;
    let xx = Tensor::from_vec(row_norms(data), n, device)?;
    let steps = Steps::new(device, k)?;
    // The centres live on the host between iterations (k × D values): each iteration uploads
    // them and their norms, and downloads the labels and the per-centre sums.
    let mut c = init.clone();
    let upload = |c: &Matrix| -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            Tensor::from_slice(c.as_slice(), (k, d), device)?,
            Tensor::from_vec(row_norms(c), k, device)?,
        ))
    };
    let mut labels: Vec<u32> = Vec::new();
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let (ct, cc) = upload(&c)?;
        let (lab, best) = steps.assign(&x, &xx, &ct, &cc)?;
        let new_labels = lab.to_vec1::<u32>()?;
        let onehot = steps.onehot(&lab, k)?;
        let mut next = onehot.t()?.matmul(&x)?.flatten_all()?.to_vec1::<f32>()?;
        let mut counts = vec![0u32; k];
        for &l in &new_labels {
            counts[l as usize] += 1;
        }
        // Rare: an empty cluster restarts where the CPU k-means would.
        let dists = if counts.contains(&0) {
            best.to_vec1::<f32>()?
        } else {
            Vec::new()
        };
        let mut taken: Vec<usize> = Vec::new();
        for (ci, row) in next.chunks_exact_mut(d).enumerate() {
            if counts[ci] == 0 {
                row.copy_from_slice(data.row(farthest_untaken(&dists, &mut taken)));
            } else {
                let count = counts[ci] as f32;
                row.iter_mut().for_each(|v| *v /= count);
            }
        }
        let next = Matrix::new(next, d).expect("k × d");
        let shift = centre_shift(&c, &next);
        let unchanged = new_labels == labels;
        c = next;
        labels = new_labels;
        if unchanged || shift <= tol {
            break;
        }
    }
    let (ct, cc) = upload(&c)?;
    let (lab, best) = steps.assign(&x, &xx, &ct, &cc)?;
    let inertia = best.to_vec1::<f32>()?.iter().map(|&v| f64::from(v)).sum();
    Ok(KMeansFit {
        labels: lab
            .to_vec1::<u32>()?
            .into_iter()
            .map(|l| l as usize)
            .collect(),
        centroids: c,
        inertia,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kmeans::{self, KMeansParams};
    use crate::cluster::rng::Rng;

    /// One test body per device: the CPU always, CUDA GPU 0 when this build has CUDA and a GPU answers.
    macro_rules! test_device {
        ($name:ident, $body:ident) => {
            mod $name {
                #[test]
                fn cpu() {
                    super::$body(&candle_core::Device::Cpu);
                }
                #[cfg(feature = "cuda")]
                #[test]
                fn cuda() {
                    match crate::device::DeviceChoice::Cuda(0).open() {
                        Ok(device) => super::$body(&device),
                        Err(err) => eprintln!("no CUDA GPU here ({err}); the CPU case ran"),
                    }
                }
            }
        };
    }

    fn blobs(k: usize, per: usize, spread: f32, seed: u64) -> Matrix {
        let mut rng = Rng::new(seed);
        let mut v = Vec::new();
        for c in 0..k {
            for _ in 0..per {
                for j in 0..16 {
                    let centre = if j == c % 16 {
                        10.0
                    } else if j == (c / 16) + 8 {
                        5.0
                    } else {
                        0.0
                    };
                    v.push(centre + spread * (rng.next_f64() as f32 - 0.5));
                }
            }
        }
        Matrix::new(v, 16).unwrap()
    }

    fn same_as_cpu(device: &Device) {
        let data = blobs(6, 40, 2.0, 11);
        let params = KMeansParams::new(6, 1, 100, 1e-4, 3, None).unwrap();
        let init = kmeans::plus_plus(&data, 6, &mut Rng::new(3));
        let cpu = kmeans::fit(&data, &params).unwrap();
        let dev = lloyd_on(device, &data, &init, 100, 0.0).unwrap();
        assert_eq!(
            dev.labels, cpu.labels,
            "identical assignments on separable data"
        );
        assert!((dev.inertia - cpu.inertia).abs() <= 1e-3 * cpu.inertia.max(1.0));
    }
    test_device!(device_kmeans_matches_cpu, same_as_cpu);

    fn overlapping_agree(device: &Device) {
        // Overlapping blobs: float order may differ, but the partitions must agree (ARI ≥ 0.99).
        let data = blobs(12, 60, 9.0, 5);
        let init = kmeans::plus_plus(&data, 12, &mut Rng::new(1));
        let params = KMeansParams::new(12, 1, 300, 1e-4, 1, None).unwrap();
        let cpu = kmeans::fit(&data, &params).unwrap();
        let dev = lloyd_on(device, &data, &init, 300, 1e-4 * 1.0).unwrap();
        let ari = crate::eval::score(&cpu.labels, &dev.labels).ari;
        assert!(ari >= 0.99, "ARI {ari}");
    }
    test_device!(device_kmeans_overlapping, overlapping_agree);
}
