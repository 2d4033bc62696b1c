//! Batches queued on the device: [`SentenceEncoder::submit`] launches a batch and returns, and
//! [`Pending::wait`] gives its vectors. A caller that submits the next batch before waiting
//! keeps the GPU busy while the host reads results and prepares input. On the CPU (or when the
//! overlap is off) `submit` embeds the batch at once.

use super::{EmbedError, Embedder, SentenceEncoder};

/// A submitted batch.
pub struct Pending(Kind);

enum Kind {
    Done(Vec<f32>),
    #[cfg(feature = "cuda")]
    Copying {
        download: super::cuda::download::Download,
        device: String,
    },
}

impl Pending {
    /// The batch's vectors, `texts * dim` values in input order.
    pub fn wait(self) -> Result<Vec<f32>, EmbedError> {
        match self.0 {
            Kind::Done(vectors) => Ok(vectors),
            #[cfg(feature = "cuda")]
            Kind::Copying { download, device } => download
                .finish()
                .map_err(|source| EmbedError::Compute { device, source }),
        }
    }
}

impl SentenceEncoder {
    /// Whether callers should queue one batch behind another ([`Self::set_overlap`]; on by
    /// default: 1.14× the embedding stage's speed in f16 on an H100, README).
    /// Only packed batches on CUDA return before they are done; elsewhere the queue is one
    /// batch deep.
    pub fn overlaps(&self) -> bool {
        self.overlap
    }

    pub fn set_overlap(&mut self, on: bool) {
        self.overlap = on;
    }

    /// Launches a batch (see [`Self::overlaps`]); [`Pending::wait`] returns its vectors.
    pub fn submit(&self, seqs: &[&[u32]]) -> Result<Pending, EmbedError> {
        #[cfg(feature = "cuda")]
        if self.packed && !self.device.is_cpu() && !seqs.is_empty() {
            let err = |source| EmbedError::Compute {
                device: self.device_name(),
                source,
            };
            let out = self.embed_packed(seqs).map_err(err)?;
            let download = super::cuda::download::start(&out, &self.pinned).map_err(err)?;
            return Ok(Pending(Kind::Copying {
                download,
                device: self.device_name(),
            }));
        }
        self.embed(seqs).map(|vectors| Pending(Kind::Done(vectors)))
    }
}
