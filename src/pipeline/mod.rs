//! The jobs the stages are put together into: the threaded embedding job (`embed_job.rs`, its
//! input side in `produce.rs`, the documents it keeps for `run` in `collect.rs`), the clustering
//! job (`cluster_job.rs`), and the loaded model both use (`model.rs`).

pub mod cluster_job;
mod collect;
pub mod embed_job;
mod job_facts;
pub mod model;
mod naming;
mod produce;
pub mod stream;

pub use model::{default_batch_size, LoadedModel, ModelParts};
