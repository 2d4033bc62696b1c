//! The k-means steps that are not matrix products, on CUDA (kernels in `kmeans.cu`, compiled by
//! build.rs into machine code). candle's ops for the same steps run its own kernels, which ship
//! as PTX: on a new H100 machine the driver compiled them for 17.8 s before the first k-means
//! (0.96 s for the whole `cluster` job once cached). These need no compiling.

use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaModule, CudaSlice, CudaView, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::op::BackpropOp;
use candle_core::{CudaDevice, CudaStorage, Layout, Result, Storage, Tensor};

const FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/kmeans_kernels.fatbin"));
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/kmeans_kernels.ptx"));

/// Threads per block.
const BLOCK: u32 = 128;

/// The k-means kernels, loaded into a device's context for one k-means run.
pub(crate) struct KMeansKernels {
    dev: CudaDevice,
    assign: CudaFunction,
    onehot: CudaFunction,
    /// Keeps the functions' module loaded.
    _module: Arc<CudaModule>,
}

impl KMeansKernels {
    pub(crate) fn load(dev: &CudaDevice) -> Result<Self> {
        let module = crate::device::load_cuda_module(
            dev.cuda_stream().context(),
            "k-means kernels",
            FATBIN,
            PTX,
        )?;
        Ok(Self {
            assign: module.load_function("kmeans_assign").w()?,
            onehot: module.load_function("kmeans_onehot").w()?,
            dev: dev.clone(),
            _module: module,
        })
    }

    /// Each row's nearest centre (u32) and its squared distance (f32), from the products
    /// `p` = X·Cᵀ (n × k), the centres' squared norms `cc` (k) and the rows' `xx` (n).
    pub(crate) fn assign(&self, p: &Tensor, cc: &Tensor, xx: &Tensor) -> Result<(Tensor, Tensor)> {
        let (n, k) = p.dims2()?;
        if cc.elem_count() != k || xx.elem_count() != n {
            candle_core::bail!(
                "kmeans_assign: {n} × {k} products with {} centre norms and {} row norms",
                cc.elem_count(),
                xx.elem_count()
            );
        }
        // SAFETY: every element is written by the kernel (one thread per row).
        let labels = unsafe { self.dev.alloc::<u32>(n)? };
        let best = unsafe { self.dev.alloc::<f32>(n)? };
        if n > 0 {
            let (ps, pl) = p.storage_and_layout();
            let (cs, cl) = cc.storage_and_layout();
            let (xs, xl) = xx.storage_and_layout();
            let p = view::<f32>(&ps, pl)?;
            let c = view::<f32>(&cs, cl)?;
            let x = view::<f32>(&xs, xl)?;
            let (n32, k32) = (n as u32, k as u32);
            let stream = self.dev.cuda_stream();
            let mut b = stream.launch_builder(&self.assign);
            b.arg(&p)
                .arg(&c)
                .arg(&x)
                .arg(&n32)
                .arg(&k32)
                .arg(&labels)
                .arg(&best);
            // SAFETY: argument types and order match the kernel; the sizes were checked above.
            unsafe { b.launch(grid(n)) }.w()?;
        }
        Ok((self.tensor(labels, n), self.tensor(best, n)))
    }

    /// The n × k one-hot matrix of `labels` (u32, n).
    pub(crate) fn onehot(&self, labels: &Tensor, k: usize) -> Result<Tensor> {
        let n = labels.elem_count();
        let total = n * k;
        // SAFETY: every element is written by the kernel (one thread per element).
        let out = unsafe { self.dev.alloc::<f32>(total)? };
        if total > 0 {
            let (ls, ll) = labels.storage_and_layout();
            let l = view::<u32>(&ls, ll)?;
            let (n32, k32) = (n as u32, k as u32);
            let stream = self.dev.cuda_stream();
            let mut b = stream.launch_builder(&self.onehot);
            b.arg(&l).arg(&n32).arg(&k32).arg(&out);
            // SAFETY: argument types and order match the kernel.
            unsafe { b.launch(grid(total)) }.w()?;
        }
        Ok(self.tensor(out, (n, k)))
    }

    fn tensor<T: CudaDType>(
        &self,
        s: CudaSlice<T>,
        shape: impl Into<candle_core::Shape>,
    ) -> Tensor {
        let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(s, self.dev.clone()));
        Tensor::from_storage(storage, shape, BackpropOp::none(), false)
    }
}

fn grid(threads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (threads.div_ceil(BLOCK as usize) as u32, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// A contiguous CUDA tensor's elements.
fn view<'a, T: CudaDType>(storage: &'a Storage, layout: &Layout) -> Result<CudaView<'a, T>> {
    let Storage::Cuda(s) = storage else {
        candle_core::bail!("k-means kernels: a tensor is not on the GPU");
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(s.as_cuda_slice::<T>()?.slice(a..b)),
        None => candle_core::bail!("k-means kernels: contiguous input only"),
    }
}
