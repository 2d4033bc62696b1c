//! Lloyd's k-means on a candle device (a CUDA GPU, or the CPU for tests): the assignment step is
//! one matrix product (‖x‖² + ‖c‖² − 2·X·Cᵀ, arg-min per row), the update step another (one-hot
//! assignments transposed times X). Same seeding, empty-cluster rule and stopping rule as the
//! CPU k-means, so on well-separated data both give identical assignments.

use candle_core::{DType, Device, Tensor, D};

use super::kmeans::KMeansFit;
use crate::matrix::Matrix;

fn to_tensor(m: &Matrix, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(m.as_slice(), (m.rows(), m.dim()), device)
}

/// Nearest centre of each row and the squared distance to it, computed on `x`'s device.
fn assign(x: &Tensor, xx: &Tensor, c: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let cc = c.sqr()?.sum(1)?.unsqueeze(0)?;
    let dist = xx
        .broadcast_add(&cc)?
        .broadcast_sub(&(x.matmul(&c.t()?)? * 2.0)?)?
        .clamp(0f32, f32::MAX)?;
    let labels = dist.argmin_keepdim(D::Minus1)?;
    let best = dist.gather(&labels, D::Minus1)?;
    Ok((labels.squeeze(1)?, best.squeeze(1)?))
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
    let x = to_tensor(data, device)?;
    let xx = x.sqr()?.sum_keepdim(1)?;
    let ids = Tensor::arange(0u32, k as u32, device)?.unsqueeze(0)?;
    let mut c = to_tensor(init, device)?;
    let mut labels: Vec<u32> = Vec::new();
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        let (lab, best) = assign(&x, &xx, &c)?;
        let onehot = lab.unsqueeze(1)?.broadcast_eq(&ids)?.to_dtype(DType::F32)?;
        let sums = onehot.t()?.matmul(&x)?;
        let counts = onehot.sum(0)?;
        let counts_host = counts.to_vec1::<f32>()?;
        let mut next = if counts_host.iter().all(|&c| c > 0.0) {
            sums.broadcast_div(&counts.unsqueeze(1)?)?
        } else {
            // Rare: an empty cluster takes the point farthest from its centre, as on the CPU.
            let dists = best.to_vec1::<f32>()?;
            let mut rows = sums.to_vec2::<f32>()?;
            let mut taken: Vec<usize> = Vec::new();
            for (ci, row) in rows.iter_mut().enumerate() {
                if counts_host[ci] == 0.0 {
                    let far = (0..n)
                        .filter(|i| !taken.contains(i))
                        .max_by(|&a, &b| dists[a].total_cmp(&dists[b]))
                        .unwrap_or(0);
                    taken.push(far);
                    row.copy_from_slice(data.row(far));
                } else {
                    row.iter_mut().for_each(|v| *v /= counts_host[ci]);
                }
            }
            Tensor::from_vec(rows.concat(), (k, d), device)?
        };
        next = next.contiguous()?;
        let shift = (&next - &c)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        let new_labels = lab.to_vec1::<u32>()?;
        let unchanged = new_labels == labels;
        c = next;
        labels = new_labels;
        if unchanged || shift <= tol {
            break;
        }
    }
    let (lab, best) = assign(&x, &xx, &c)?;
    let inertia = best.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
    let centroids = Matrix::new(c.flatten_all()?.to_vec1::<f32>()?, d).expect("k × d");
    Ok(KMeansFit {
        labels: lab
            .to_vec1::<u32>()?
            .into_iter()
            .map(|l| l as usize)
            .collect(),
        centroids,
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
