//! Copying a batch's vectors back without waiting for it: the copy is queued on the device's
//! stream behind the batch's work, into page-locked host memory, and only `finish` waits for it.
//! Meanwhile the caller queues the next batch, so the GPU does not sit idle while the host
//! reads results and prepares input (see `SentenceEncoder::submit`).

use std::sync::{Arc, Mutex};

use candle_core::cuda_backend::cudarc::driver::{sys, CudaEvent, DevicePtr, PinnedHostSlice};
use candle_core::cuda_backend::WrapErr;
use candle_core::{Result, Storage, Tensor};

/// Page-locked buffers ready for reuse (allocating one takes longer than a batch's copy).
#[derive(Clone, Default)]
pub(crate) struct PinnedPool(Arc<Mutex<Vec<PinnedHostSlice<f32>>>>);

/// Buffers kept for reuse: one per batch in flight, and one spare.
const KEEP: usize = 3;

impl PinnedPool {
    fn take(&self, at_least: usize) -> Option<PinnedHostSlice<f32>> {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let i = free.iter().position(|b| b.len() >= at_least)?;
        Some(free.swap_remove(i))
    }

    fn give_back(&self, buffer: PinnedHostSlice<f32>) {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < KEEP {
            free.push(buffer);
        }
    }
}

/// A copy in flight: `len` values of `out` on their way into `host`; `done` is recorded
/// on the stream behind the copy.
pub(crate) struct Download {
    /// Taken by `finish`; a Download dropped without it waits for the copy before the buffer
    /// is freed (the device would otherwise write into freed memory).
    host: Option<PinnedHostSlice<f32>>,
    len: usize,
    done: CudaEvent,
    pool: PinnedPool,
    /// The device buffer, kept until the copy is done.
    _out: Tensor,
}

/// Queues the copy of `out` (f32, on CUDA) to the host.
pub(crate) fn start(out: &Tensor, pool: &PinnedPool) -> Result<Download> {
    let out = out.contiguous()?;
    let len = out.elem_count();
    let (host, done) = {
        let (storage, layout) = out.storage_and_layout();
        let Storage::Cuda(storage) = &*storage else {
            candle_core::bail!("download: the tensor is not on a CUDA device");
        };
        let offset = layout.start_offset();
        let view = storage.as_cuda_slice::<f32>()?.slice(offset..offset + len);
        let stream = storage.device.cuda_stream();
        let mut host = match pool.take(len) {
            Some(buffer) => buffer,
            // Rounded up so that later, slightly larger batches reuse it. Not write-combined:
            // the host reads it. SAFETY: only the `len` values the copy writes are read.
            None => unsafe {
                stream
                    .context()
                    .alloc_pinned_with_flags::<f32>(len.next_power_of_two(), 0)
                    .w()?
            },
        };
        // The buffer may be longer than `len`, and cudarc's copy into a pinned slice copies
        // its whole length: copy exactly `len` values with the driver call itself.
        let dst = host.as_mut_ptr().w()?;
        {
            let (src, _record) = view.device_ptr(&stream);
            // SAFETY: `dst` holds at least `len` f32 and `src` has `len` f32 on the device; both
            // stay alive until `done` has passed (`host` and `out` are kept in the Download).
            unsafe {
                sys::cuMemcpyDtoHAsync_v2(
                    dst.cast(),
                    src,
                    len * std::mem::size_of::<f32>(),
                    stream.cu_stream(),
                )
            }
            .result()
            .w()?;
        }
        let done = match stream.record_event(None) {
            Ok(done) => done,
            Err(err) => {
                // The copy must end before `host` is freed on the way out.
                let _ = stream.synchronize();
                return Err(err).w();
            }
        };
        (host, done)
    };
    Ok(Download {
        host: Some(host),
        len,
        done,
        pool: pool.clone(),
        _out: out,
    })
}

impl Download {
    /// Waits for the copy; returns the values.
    pub(crate) fn finish(mut self) -> Result<Vec<f32>> {
        self.done.synchronize().w()?;
        let host = self.host.take().expect("finish runs once");
        // SAFETY: the copy of `len` values into the buffer has completed (`done`).
        let values = unsafe { std::slice::from_raw_parts(host.as_ptr().w()?, self.len) }.to_vec();
        self.pool.give_back(host);
        Ok(values)
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        if let Some(host) = self.host.take() {
            // An error may have ended the batch: the copy may still be running.
            let _ = self.done.synchronize();
            drop(host);
        }
    }
}
