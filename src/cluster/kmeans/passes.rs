//! k-means over more rows than memory holds: seeded and fitted on a sample of the rows (the
//! caller draws it with [`in_sample`]), then refined by Lloyd steps that each see every row
//! once, batch by batch ([`LloydPass`]: the caller reads the batches, a pass only sums them).
//! Memory is k × D sums and one batch, whatever the number of rows.

use super::device::DeviceSteps;
use super::lloyd::{CpuSteps, Steps};
use super::Place;
use crate::cluster::error::ClusterError;
use crate::matrix::{sq_dist, Matrix};

/// Whether row `row` is in a sample of about `size` of `rows` rows drawn with `seed`: decided by
/// a hash of the row number alone, so any reader of the rows, in any batches, draws the same.
pub fn in_sample(row: usize, rows: usize, size: usize, seed: u64) -> bool {
    if size >= rows {
        return true;
    }
    // splitmix64 of the row number and the seed.
    let mut z = (row as u64) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // Uniform in [0, 1) against the sampled share.
    ((z >> 11) as f64 / (1u64 << 53) as f64) < size as f64 / rows as f64
}

/// One Lloyd step over rows handed in batch by batch: each row's nearest centre, and the sums
/// that give the next centres.
pub struct LloydPass<'a> {
    centres: &'a Matrix,
    place: Place<'a>,
    sums: Vec<f64>,
    counts: Vec<u64>,
    inertia: f64,
    /// The rows farthest from their centre so far, farthest first (restarts for empty centres).
    far: Vec<(f32, Vec<f32>)>,
}

impl<'a> LloydPass<'a> {
    pub fn new(centres: &'a Matrix, place: Place<'a>) -> Self {
        let (k, d) = (centres.rows(), centres.dim());
        Self {
            centres,
            place,
            sums: vec![0.0; k * d],
            counts: vec![0; k],
            inertia: 0.0,
            far: Vec::new(),
        }
    }

    /// Assigns the rows of `batch` (on the device, when the pass has one) and adds them to the
    /// sums. Returns each row's centre and squared distance to it; ties go to the lowest centre.
    pub fn add(&mut self, batch: &Matrix) -> Result<(Vec<usize>, Vec<f32>), ClusterError> {
        let (k, d) = (self.centres.rows(), self.centres.dim());
        if batch.rows() == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        if batch.dim() != d {
            return Err(ClusterError::Dimensions {
                rows: batch.dim(),
                centres: d,
            });
        }
        let mut cpu;
        let mut device;
        let steps: &mut dyn Steps = match self.place {
            Place::Cpu => {
                cpu = CpuSteps::new(batch);
                &mut cpu
            }
            Place::Device(dev, kernels) => {
                device = DeviceSteps::new(dev, batch, k, kernels)
                    .map_err(|source| ClusterError::Device { source })?;
                &mut device
            }
        };
        let labels = steps.assign(self.centres)?;
        let dists = steps.distances()?;
        let mut counts = vec![0usize; k];
        for &c in &labels {
            counts[c] += 1;
        }
        let means = steps.means(&counts)?;
        for (c, &n) in counts.iter().enumerate() {
            if n > 0 {
                self.counts[c] += n as u64;
                for (s, m) in self.sums[c * d..(c + 1) * d]
                    .iter_mut()
                    .zip(&means[c * d..(c + 1) * d])
                {
                    *s += f64::from(*m) * n as f64;
                }
            }
        }
        self.inertia += dists.iter().map(|&v| f64::from(v)).sum::<f64>();
        self.keep_far(batch, &dists, k);
        Ok((labels, dists))
    }

    /// Keeps the `k` rows farthest from their centres among those seen.
    fn keep_far(&mut self, batch: &Matrix, dists: &[f32], k: usize) {
        let floor = |far: &Vec<(f32, Vec<f32>)>| match far.len() < k {
            true => f32::NEG_INFINITY,
            false => far.last().map_or(f32::NEG_INFINITY, |f| f.0),
        };
        for (i, &dist) in dists.iter().enumerate() {
            if dist > floor(&self.far) {
                let at = self.far.partition_point(|f| f.0 >= dist);
                self.far.insert(at, (dist, batch.row(i).to_vec()));
                self.far.truncate(k);
            }
        }
    }

    /// Rows each centre was given so far.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn inertia(&self) -> f64 {
        self.inertia
    }

    /// The next centres: the mean of each centre's rows; a centre no row chose restarts at the
    /// farthest row seen not taken by another. Also returns the summed squared shift from the
    /// centres the pass began with.
    pub fn finish(self) -> (Matrix, f64) {
        let (k, d) = (self.centres.rows(), self.centres.dim());
        let mut next = vec![0f32; k * d];
        let mut far = self.far.into_iter();
        for c in 0..k {
            let row = &mut next[c * d..(c + 1) * d];
            match self.counts[c] {
                0 => match far.next() {
                    Some((_, v)) => row.copy_from_slice(&v),
                    None => row.copy_from_slice(self.centres.row(c)),
                },
                n => {
                    for (x, s) in row.iter_mut().zip(&self.sums[c * d..(c + 1) * d]) {
                        *x = (s / n as f64) as f32;
                    }
                }
            }
        }
        let next = Matrix::new(next, d).expect("k × d");
        let shift = (0..k)
            .map(|c| f64::from(sq_dist(self.centres.row(c), next.row(c))))
            .sum();
        (next, shift)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::blobs;
    use super::super::{fit, KMeansParams};
    use super::*;

    const CENTRES: [[f32; 3]; 3] = [[10., 0., 0.], [0., 10., 0.], [0., 0., 10.]];

    #[test]
    fn a_pass_in_batches_is_one_lloyd_step() {
        let (data, _) = blobs(&CENTRES, 40, 4.0, 9);
        let start = data.select(&[0, 1, 2]);
        // One Lloyd iteration from `start`, by hand.
        let (labels, _) = super::super::assign(&data, &start);
        let mut want = [0f64; 9];
        let mut n = [0f64; 3];
        for (i, &c) in labels.iter().enumerate() {
            n[c] += 1.0;
            for j in 0..3 {
                want[c * 3 + j] += data.row(i)[j] as f64;
            }
        }
        let mut pass = LloydPass::new(&start, Place::Cpu);
        let mut got_labels = Vec::new();
        for from in (0..data.rows()).step_by(7) {
            let rows: Vec<usize> = (from..(from + 7).min(data.rows())).collect();
            got_labels.extend(pass.add(&data.select(&rows)).unwrap().0);
        }
        assert_eq!(got_labels, labels);
        assert_eq!(pass.counts().iter().sum::<u64>(), 120);
        let (next, shift) = pass.finish();
        for c in 0..3 {
            for j in 0..3 {
                let w = want[c * 3 + j] / n[c].max(1.0);
                assert!((next.row(c)[j] as f64 - w).abs() < 1e-4, "{c} {j}");
            }
        }
        assert!(shift > 0.0);
    }

    #[test]
    fn passes_from_a_sample_fit_find_the_blobs() {
        let (data, truth) = blobs(&CENTRES, 300, 2.0, 4);
        let n = data.rows();
        let rows: Vec<usize> = (0..n).filter(|&i| in_sample(i, n, 60, 7)).collect();
        assert!((30..=100).contains(&rows.len()), "{}", rows.len());
        let params = KMeansParams::new(2, 50, 1e-4, 7, None).unwrap();
        let mut centres = fit(&data.select(&rows), 3, &params).unwrap().centroids;
        for _ in 0..3 {
            let mut pass = LloydPass::new(&centres, Place::Cpu);
            pass.add(&data).unwrap();
            centres = pass.finish().0;
        }
        let (labels, _) = super::super::assign(&data, &centres);
        // Every blob is one cluster.
        for blob in 0..3 {
            let of: Vec<usize> = (0..n)
                .filter(|&i| truth[i] == blob)
                .map(|i| labels[i])
                .collect();
            assert!(of.iter().all(|&l| l == of[0]), "blob {blob}");
        }
    }

    #[test]
    fn an_empty_centre_restarts_at_the_farthest_row() {
        let data = Matrix::new(vec![0., 0., 1., 0., 9., 0.], 2).unwrap();
        // The second centre is far from every row: no row chooses it.
        let start = Matrix::new(vec![0.5, 0., 100., 100.], 2).unwrap();
        let mut pass = LloydPass::new(&start, Place::Cpu);
        pass.add(&data).unwrap();
        let (next, _) = pass.finish();
        assert_eq!(next.row(1), &[9., 0.]);
    }
}
