//! Loads the packed kernels (build.rs: a fatbin with machine code, or PTX) once per CUDA
//! context and keeps their function handles, so a launch looks a handle up instead of asking
//! the driver for it. An encoder counts itself a user of its context's kernels while it lives
//! ([`retain`], [`release`]): the module, which holds the context, goes with the last one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::cuda_backend::cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaStream, LaunchArgs,
};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaDevice, Result};

/// Machine code for the GPUs build.rs compiled for, and PTX for newer ones.
const FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/packed_kernels.fatbin"));
/// The same kernels as PTX only: compiled by the driver when loaded.
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/packed_kernels.ptx"));

/// The kernels of one context. The module holds its context alive, so the context pointer used
/// as a key cannot be reused by another context while the entry exists.
struct Loaded {
    ctx: usize,
    module: Arc<CudaModule>,
    functions: HashMap<String, CudaFunction>,
    /// Encoders using them (an entry made by a bare launch has none and stays).
    users: usize,
}

static LOADED: Mutex<Vec<Loaded>> = Mutex::new(Vec::new());

/// A kernel ready to launch on the device's stream.
pub(crate) struct Kernel {
    stream: Arc<CudaStream>,
    function: CudaFunction,
}

impl Kernel {
    pub(crate) fn builder(&self) -> LaunchArgs<'_> {
        self.stream.launch_builder(&self.function)
    }
}

/// The entry of `ctx`, loading the module if there is none.
fn entry<'a>(loaded: &'a mut Vec<Loaded>, ctx: &Arc<CudaContext>) -> Result<&'a mut Loaded> {
    let key = ctx.cu_ctx() as usize;
    let index = match loaded.iter().position(|l| l.ctx == key) {
        Some(i) => i,
        None => {
            loaded.push(Loaded {
                ctx: key,
                module: load(ctx)?,
                functions: HashMap::new(),
                users: 0,
            });
            loaded.len() - 1
        }
    };
    Ok(&mut loaded[index])
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Loaded>> {
    LOADED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads the kernels for `dev` now (at model load rather than in the first batch) and counts
/// one more user.
pub(crate) fn retain(dev: &CudaDevice) -> Result<()> {
    let mut loaded = lock();
    entry(&mut loaded, dev.cuda_stream().context())?.users += 1;
    Ok(())
}

/// One user less; the last one unloads the kernels (and lets the context go).
pub(crate) fn release(dev: &CudaDevice) {
    let key = dev.cuda_stream().context().cu_ctx() as usize;
    let mut loaded = lock();
    if let Some(i) = loaded.iter().position(|l| l.ctx == key) {
        loaded[i].users = loaded[i].users.saturating_sub(1);
        if loaded[i].users == 0 {
            loaded.swap_remove(i);
        }
    }
}

/// The kernel `name` on `dev`, loading the module on first use in the device's context.
pub(crate) fn kernel(dev: &CudaDevice, name: &str) -> Result<Kernel> {
    let stream = dev.cuda_stream();
    let mut loaded = lock();
    let entry = entry(&mut loaded, stream.context())?;
    let function = match entry.functions.get(name) {
        Some(f) => f.clone(),
        None => {
            let f = entry.module.load_function(name).w()?;
            entry.functions.insert(name.to_string(), f.clone());
            f
        }
    };
    Ok(Kernel { stream, function })
}

/// The fatbin (no JIT where it has machine code for the GPU), else the PTX.
fn load(ctx: &Arc<CudaContext>) -> Result<Arc<CudaModule>> {
    crate::device::load_cuda_module(ctx, "packed kernels", FATBIN, PTX)
}

#[cfg(test)]
mod tests {
    /// The fatbin build.rs embeds is one (its magic number), not PTX text or an empty file.
    #[test]
    fn the_embedded_image_is_a_fatbin() {
        assert!(super::FATBIN.len() > 1024);
        assert_eq!(&super::FATBIN[..4], &0xBA55_ED50u32.to_le_bytes());
        assert!(super::PTX.contains(".entry"));
    }
}
