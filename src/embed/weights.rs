//! A model's safetensors weights for a GPU in f16/bf16, converted on the host before the upload
//! ([`HostWeights`]): converting on the device would run candle's cast kernel, which ships as
//! PTX that the driver compiles on a machine's first use (1.4–1.8 s of a new H100 machine's
//! first job, measured), and the upload is half the bytes. A job reads them this way while the
//! device opens, off the critical path (converting after it, beside the tokenizer, added
//! 0.04–0.12 s to warm jobs on the H100 host).

use std::collections::HashMap;
use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use half::{bf16, f16};
use rayon::prelude::*;

/// Values converted per rayon task.
const PIECE: usize = 1 << 16;

/// A model's weights in host memory, f32 ones already converted to f16 or bf16, ready to go to
/// a GPU ([`crate::embed::SentenceEncoder::load_prepared`]).
pub struct HostWeights {
    tensors: HashMap<String, Tensor>,
    dtype: DType,
}

impl HostWeights {
    /// Whether weights in `dtype` are worth preparing on the host: f16 and bf16, which only a
    /// GPU runs.
    pub fn wanted(dtype: DType) -> bool {
        matches!(dtype, DType::F16 | DType::BF16)
    }

    /// Reads every tensor of the safetensors file at `path`, converting f32 ones to `dtype`
    /// (f16 or bf16); others stay as stored.
    ///
    /// # Safety
    /// The file is memory-mapped while it is read: it must not change meanwhile.
    pub unsafe fn read(path: &Path, dtype: DType) -> candle_core::Result<Self> {
        let file = MmapedSafetensors::new(path)?;
        let cpu = Device::Cpu;
        let mut tensors = HashMap::new();
        for (name, view) in file.tensors() {
            let tensor = match (view.dtype(), dtype) {
                (safetensors::Dtype::F32, DType::F16) => {
                    Tensor::from_vec(to_half(view.data(), f16::from_f32), view.shape(), &cpu)?
                }
                (safetensors::Dtype::F32, DType::BF16) => {
                    Tensor::from_vec(to_half(view.data(), bf16::from_f32), view.shape(), &cpu)?
                }
                // Already in half precision, or not a float: as stored (VarBuilder casts what
                // it hands out if need be).
                _ => file.load(&name, &cpu)?,
            };
            tensors.insert(name, tensor);
        }
        Ok(Self { tensors, dtype })
    }

    /// The precision the weights were prepared in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Uploads the weights to `device` and builds on them.
    pub(crate) fn var_builder(self, device: &Device) -> candle_core::Result<VarBuilder<'static>> {
        let tensors = self
            .tensors
            .into_iter()
            .map(|(name, t)| Ok((name, t.to_device(device)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()?;
        Ok(VarBuilder::from_tensors(tensors, self.dtype, device))
    }
}

/// Little-endian f32 bytes converted to a half-precision type, rounding to nearest even (as
/// the CUDA cast does), in parallel pieces.
fn to_half<T: Copy + Default + Send>(bytes: &[u8], convert: fn(f32) -> T) -> Vec<T> {
    let n = bytes.len() / 4;
    let mut out = vec![T::default(); n];
    out.par_chunks_mut(PIECE)
        .zip(bytes.par_chunks(PIECE * 4))
        .for_each(|(out, bytes)| {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = convert(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host conversion rounds as candle's own cast does (to nearest, ties to even), for
    /// values that round either way, halfway cases, subnormals, overflow and NaN.
    #[test]
    fn host_conversion_matches_candles_cast() {
        let values: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            -2.5,
            0.1,
            1.0 + 1.0 / 2048.0,
            1.0 + 3.0 / 2048.0,
            65504.0,
            65520.0,
            1e-7,
            3.0e38,
            f32::INFINITY,
            f32::NAN,
            -1.234_567_8,
        ];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let cpu = Tensor::new(values.as_slice(), &Device::Cpu).unwrap();
        let want16 = cpu.to_dtype(DType::F16).unwrap().to_vec1::<f16>().unwrap();
        let got16 = to_half(&bytes, f16::from_f32);
        let wantb = cpu
            .to_dtype(DType::BF16)
            .unwrap()
            .to_vec1::<bf16>()
            .unwrap();
        let gotb = to_half(&bytes, bf16::from_f32);
        for i in 0..values.len() {
            assert_eq!(
                got16[i].to_bits(),
                want16[i].to_bits(),
                "f16 of {}",
                values[i]
            );
            assert_eq!(
                gotb[i].to_bits(),
                wantb[i].to_bits(),
                "bf16 of {}",
                values[i]
            );
        }
        // Pieces: a length that is not a multiple of the piece keeps every value in place.
        let long: Vec<f32> = (0..PIECE * 2 + 7).map(|i| i as f32 * 0.25).collect();
        let bytes: Vec<u8> = long.iter().flat_map(|v| v.to_le_bytes()).collect();
        let got = to_half(&bytes, f16::from_f32);
        assert!(got.iter().zip(&long).all(|(g, v)| *g == f16::from_f32(*v)));
    }

    /// Weights converted on the host are those the usual loader gives in that precision, and
    /// tensors that are not f32 keep their type.
    #[test]
    fn converted_weights_match_the_usual_loader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let cpu = Device::Cpu;
        let w = Tensor::arange(0f32, 600.0, &cpu)
            .unwrap()
            .affine(0.0137, -3.3)
            .unwrap()
            .reshape((20, 30))
            .unwrap();
        let ids = Tensor::arange(0i64, 12, &cpu).unwrap();
        let tensors = HashMap::from([("w".to_string(), w), ("ids".to_string(), ids)]);
        candle_core::safetensors::save(&tensors, &path).unwrap();
        for dtype in [DType::F16, DType::BF16] {
            let ours = unsafe { HostWeights::read(&path, dtype) }
                .unwrap()
                .var_builder(&cpu)
                .unwrap();
            let usual =
                unsafe { VarBuilder::from_mmaped_safetensors(&[&path], dtype, &cpu) }.unwrap();
            let a = ours.get((20, 30), "w").unwrap();
            let b = usual.get((20, 30), "w").unwrap();
            assert_eq!(a.dtype(), dtype);
            let diff = (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert_eq!(diff, 0.0, "{dtype:?}");
            let ids = ours.get_unchecked_dtype("ids", DType::I64).unwrap();
            assert_eq!(ids.to_vec1::<i64>().unwrap(), (0..12).collect::<Vec<i64>>());
        }
    }
}
