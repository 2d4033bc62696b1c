//! Lloyd's steps on a candle device (a CUDA GPU, or the CPU device in tests): the assignment is
//! one matrix product (‖x‖² + ‖c‖² − 2·X·Cᵀ, arg-min per row), the means another (one-hot
//! assignments transposed times X). The loop around them is the CPU's (`lloyd.rs`), so on
//! well-separated data both give identical assignments. On CUDA the arg-min and the one-hot
//! matrix are our kernels (`cluster/cuda/`: no JIT compiling on a new machine) unless
//! [`KMeansKernels::Candle`] asks for candle's ops, which run everywhere.

use candle_core::{DType, Device, Tensor, D};

use super::lloyd::{row_norms, Steps};
use crate::cluster::error::ClusterError;
use crate::matrix::Matrix;

/// Which ops compute the arg-min and the one-hot matrix of k-means on a GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum KMeansKernels {
    /// newsclust's kernels, machine code built for the GPU (candle's ops where they do not load).
    #[default]
    Ours,
    /// candle's ops (PTX that the driver compiles on a machine's first use: 17.8 s on a new H100).
    Candle,
}

/// The ops between the two products.
enum Ops {
    /// candle's ops, on any device; `ids` is 0..k as a 1 × k row.
    Candle { ids: Tensor },
    #[cfg(feature = "cuda")]
    Kernels(crate::cluster::cuda::KMeansKernels),
}

impl Ops {
    fn new(device: &Device, k: usize, kernels: KMeansKernels) -> candle_core::Result<Self> {
        #[cfg(feature = "cuda")]
        if let (Device::Cuda(dev), KMeansKernels::Ours) = (device, kernels) {
            match crate::cluster::cuda::KMeansKernels::load(dev) {
                Ok(kernels) => return Ok(Self::Kernels(kernels)),
                Err(e) => {
                    tracing::warn!("cannot load the k-means kernels ({e}); using candle's ops")
                }
            }
        }
        let _ = kernels;
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

/// The rows on the device and the last assignment's labels and distances (still there: the
/// distances come back only when an empty cluster needs them). The centres live on the host
/// between iterations (k × D values): each assignment uploads them and their norms.
pub(super) struct DeviceSteps {
    device: Device,
    ops: Ops,
    x: Tensor,
    xx: Tensor,
    k: usize,
    /// Values per row.
    dim: usize,
    last: Option<(Tensor, Tensor)>,
}

impl DeviceSteps {
    pub(super) fn new(
        device: &Device,
        data: &Matrix,
        k: usize,
        kernels: KMeansKernels,
    ) -> candle_core::Result<Self> {
        let (n, d) = (data.rows(), data.dim());
        Ok(Self {
            device: device.clone(),
            ops: Ops::new(device, k, kernels)?,
            x: Tensor::from_slice(data.as_slice(), (n, d), device)?,
            xx: Tensor::from_vec(row_norms(data), n, device)?,
            k,
            dim: d,
            last: None,
        })
    }

    /// The last assignment's labels and distances (the loop assigns before anything else).
    fn last(&self) -> &(Tensor, Tensor) {
        self.last.as_ref().expect("assign runs first")
    }
}

fn device_err(source: candle_core::Error) -> ClusterError {
    ClusterError::Device { source }
}

impl Steps for DeviceSteps {
    fn assign(&mut self, centres: &Matrix) -> Result<Vec<usize>, ClusterError> {
        let (k, d) = (centres.rows(), centres.dim());
        let run = || -> candle_core::Result<(Tensor, Tensor, Vec<u32>)> {
            let c = Tensor::from_slice(centres.as_slice(), (k, d), &self.device)?;
            let cc = Tensor::from_vec(row_norms(centres), k, &self.device)?;
            let (labels, best) = self.ops.assign(&self.x, &self.xx, &c, &cc)?;
            let host = labels.to_vec1::<u32>()?;
            Ok((labels, best, host))
        };
        let (labels, best, host) = run().map_err(device_err)?;
        self.last = Some((labels, best));
        Ok(host.into_iter().map(|l| l as usize).collect())
    }

    fn distances(&mut self) -> Result<Vec<f32>, ClusterError> {
        self.last().1.to_vec1::<f32>().map_err(device_err)
    }

    fn means(&mut self, counts: &[usize]) -> Result<Vec<f32>, ClusterError> {
        let labels = &self.last().0;
        let sums = || -> candle_core::Result<Vec<f32>> {
            let onehot = self.ops.onehot(labels, self.k)?;
            onehot.t()?.matmul(&self.x)?.flatten_all()?.to_vec1::<f32>()
        };
        let mut sums = sums().map_err(device_err)?;
        for (row, &count) in sums.chunks_exact_mut(self.dim).zip(counts) {
            if count > 0 {
                let count = count as f32;
                row.iter_mut().for_each(|v| *v /= count);
            }
        }
        Ok(sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kmeans::{self, lloyd, KMeansParams};
    use crate::cluster::rng::Rng;

    /// Lloyd's loop from `init` with the device's steps.
    fn lloyd_on(
        device: &Device,
        data: &Matrix,
        init: &Matrix,
        max_iter: usize,
        tol: f64,
    ) -> kmeans::KMeansFit {
        let mut steps = DeviceSteps::new(device, data, init.rows(), KMeansKernels::Ours).unwrap();
        lloyd::lloyd(&mut steps, data, init.clone(), max_iter, tol).unwrap()
    }

    /// One test body per device: the CPU always; CUDA GPU 0 in a CUDA build, ignored (counted as
    /// such) unless asked for with `--include-ignored`, and then a GPU must answer.
    macro_rules! test_device {
        ($name:ident, $body:ident) => {
            mod $name {
                #[test]
                fn cpu() {
                    super::$body(&candle_core::Device::Cpu);
                }
                #[cfg(feature = "cuda")]
                #[test]
                #[ignore = "needs a CUDA GPU (run with --include-ignored where there is one)"]
                fn cuda() {
                    let device = crate::device::DeviceChoice::Cuda(0)
                        .open()
                        .expect("a CUDA GPU for this test");
                    super::$body(&device);
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
        let params = KMeansParams::new(1, 100, 1e-4, 3, None).unwrap();
        let init = kmeans::plus_plus(&data, 6, &mut Rng::new(3));
        let cpu = kmeans::fit(&data, 6, &params).unwrap();
        let dev = lloyd_on(device, &data, &init, 100, 0.0);
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
        let params = KMeansParams::new(1, 300, 1e-4, 1, None).unwrap();
        let cpu = kmeans::fit(&data, 12, &params).unwrap();
        let dev = lloyd_on(device, &data, &init, 300, 1e-4 * 1.0);
        let ari = crate::eval::score(&cpu.labels, &dev.labels).ari;
        assert!(ari >= 0.99, "ARI {ari}");
    }
    test_device!(device_kmeans_overlapping, overlapping_agree);

    fn streamed_pass_matches_cpu(device: &Device) {
        // A pass in batches on the device: the same labels and next centres as on the CPU.
        let data = blobs(6, 40, 2.0, 13);
        let start = data.select(&[0, 45, 90, 135, 180, 225]);
        let run = |place: kmeans::Place<'_>| {
            let mut pass = kmeans::LloydPass::new(&start, place);
            let mut labels = Vec::new();
            for from in (0..data.rows()).step_by(50) {
                let rows: Vec<usize> = (from..(from + 50).min(data.rows())).collect();
                labels.extend(pass.add(&data.select(&rows)).unwrap().0);
            }
            (labels, pass.finish().0)
        };
        let (cpu_labels, cpu_next) = run(kmeans::Place::Cpu);
        let (dev_labels, dev_next) = run(kmeans::Place::Device(device, KMeansKernels::Ours));
        assert_eq!(dev_labels, cpu_labels);
        for (a, b) in dev_next.as_slice().iter().zip(cpu_next.as_slice()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }
    test_device!(device_streamed_pass, streamed_pass_matches_cpu);
}
