//! The word-embedding table read where it lies: rows copied out of the memory-mapped weights
//! file as tokens need them, so a CPU encoder in f32 never copies (nor holds) the whole table
//! — 47 MB for all-MiniLM-L6-v2, half its weights. The mapped pages live in the page cache,
//! shared with every other process reading the model.

use std::path::Path;

use candle_core::{Device, Tensor};

/// One f32 matrix of a safetensors file, mapped.
pub struct MappedRows {
    map: memmap2::Mmap,
    /// Byte offset of the first row in the file.
    start: usize,
    rows: usize,
    dim: usize,
}

impl MappedRows {
    /// The tensor named by the first of `names` in the file at `path`, when it is a little-endian
    /// f32 matrix; None when the file cannot be mapped or holds no such tensor (the caller then
    /// loads the table as usual, and reports any problem there).
    pub fn open(path: &Path, names: &[&str]) -> Option<Self> {
        if cfg!(target_endian = "big") {
            return None;
        }
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: mapped read-only; model files are only read (the loader maps it too).
        let map = unsafe { memmap2::Mmap::map(&file) }.ok()?;
        let (header, meta) = safetensors::SafeTensors::read_metadata(&map).ok()?;
        let info = names.iter().find_map(|n| meta.info(n))?;
        let [rows, dim] = info.shape[..] else {
            return None;
        };
        let (from, to) = info.data_offsets;
        // Checked: a malformed header is left to the usual loader to report, never a panic.
        let len = rows.checked_mul(dim)?.checked_mul(4)?;
        let start = (8 + header).checked_add(from)?;
        let fits = info.dtype == safetensors::Dtype::F32
            && to.checked_sub(from) == Some(len)
            && start.checked_add(len).is_some_and(|end| end <= map.len());
        fits.then_some(Self {
            map,
            start,
            rows,
            dim,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    fn row_into(&self, row: usize, out: &mut Vec<f32>) {
        let at = self.start + row * self.dim * 4;
        let bytes = &self.map[at..at + self.dim * 4];
        out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }

    /// The rows of `ids` (any shape of u32 token ids), shaped `ids.dims() + [dim]`, on the CPU.
    pub fn gather(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let flat = ids.flatten_all()?.to_vec1::<u32>()?;
        let mut values = Vec::with_capacity(flat.len() * self.dim);
        for &id in &flat {
            let row = id as usize;
            if row >= self.rows {
                return Err(candle_core::Error::Msg(format!(
                    "token id {id} is outside the {} rows of the word embeddings",
                    self.rows
                )));
            }
            self.row_into(row, &mut values);
        }
        let mut shape = ids.dims().to_vec();
        shape.push(self.dim);
        Tensor::from_vec(values, shape, &Device::Cpu)
    }

    /// The whole table as a tensor (for the packed pass, which gathers from one table).
    pub fn load(&self) -> candle_core::Result<Tensor> {
        let mut values = Vec::with_capacity(self.rows * self.dim);
        for row in 0..self.rows {
            self.row_into(row, &mut values);
        }
        Tensor::from_vec(values, (self.rows, self.dim), &Device::Cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;

    fn bytes(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn rows_come_from_the_file_and_bad_ids_are_errors() {
        let table = bytes(&[0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
        let half = vec![0u8; 4];
        let other = bytes(&[9.0, 9.0]);
        let file = safetensors::serialize(
            [
                (
                    "a.other",
                    TensorView::new(Dtype::F32, vec![2], &other).unwrap(),
                ),
                (
                    "a.table",
                    TensorView::new(Dtype::F32, vec![3, 2], &table).unwrap(),
                ),
                (
                    "a.half",
                    TensorView::new(Dtype::F16, vec![1, 2], &half).unwrap(),
                ),
            ],
            None,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, file).unwrap();

        let rows = MappedRows::open(&path, &["missing", "a.table"]).unwrap();
        assert_eq!((rows.rows(), rows.dim()), (3, 2));
        let ids = Tensor::new(&[[2u32, 0], [1, 1]], &Device::Cpu).unwrap();
        let got = rows.gather(&ids).unwrap();
        assert_eq!(got.dims(), &[2, 2, 2]);
        assert_eq!(
            got.to_vec3::<f32>().unwrap(),
            vec![
                vec![vec![2.0, 2.5], vec![0.0, 0.5]],
                vec![vec![1.0, 1.5], vec![1.0, 1.5]]
            ]
        );
        assert_eq!(
            rows.load()
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        );
        let err = rows
            .gather(&Tensor::new(&[3u32], &Device::Cpu).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("token id 3"), "{err}");
        // Not a matrix, not f32, not there, not a safetensors file: loaded the usual way.
        assert!(MappedRows::open(&path, &["a.other"]).is_none());
        assert!(MappedRows::open(&path, &["a.half"]).is_none());
        assert!(MappedRows::open(&path, &["b.table"]).is_none());
        std::fs::write(&path, b"not safetensors").unwrap();
        assert!(MappedRows::open(&path, &["a.table"]).is_none());
    }
}
