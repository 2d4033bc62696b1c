//! What the embedding stage needs of CUDA besides the packed ops' launches (`embed/ops/cuda.rs`):
//! loading our kernels into candle's context (`load.rs`) and copying vectors back into
//! page-locked memory (`download.rs`).

pub(crate) mod download;
pub(crate) mod load;
