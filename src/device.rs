//! The CPU/CUDA choice shared by every stage that computes (embedding and k-means).

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};

use crate::setting::Setting;

/// How a CUDA device is opened and our kernels are loaded: the settings `benches/gpu/` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CudaOptions {
    /// Load cuBLAS and cuRAND on a thread of their own while the driver starts (on by default).
    pub preload: bool,
    /// Load our kernels from their PTX (compiled by the driver) instead of their machine code,
    /// to measure what the JIT costs (off by default).
    pub ptx: bool,
}

impl Default for CudaOptions {
    fn default() -> Self {
        Self {
            preload: true,
            ptx: false,
        }
    }
}

/// Floating-point precision of the model weights and activations (`--dtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
            Precision::Bf16 => DType::BF16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// f16/bf16 run on CUDA only; the CPU path is f32.
    pub fn check(self, device: &Device) -> Result<(), DeviceError> {
        if self != Precision::F32 && device.is_cpu() {
            return Err(DeviceError::Precision(self.name()));
        }
        Ok(())
    }
}

/// What the user asked for with `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA GPU 0 when this binary has CUDA support and a GPU answers, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA GPU with this ordinal.
    Cuda(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("invalid device '{0}': expected auto, cpu, cuda or cuda:N")]
    Parse(String),
    #[error("device {0} requested, but this newsclust was built without CUDA support (rebuild with `--features cuda`)")]
    NoCudaSupport(DeviceChoice),
    #[error("device {choice} is not usable: {reason}")]
    Unavailable {
        choice: DeviceChoice,
        reason: String,
    },
    #[error("{p} {0} needs a CUDA device; the CPU computes in f32 (use {p} f32 or {d} cuda)", p = Setting::Precision, d = Setting::Device)]
    Precision(&'static str),
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| DeviceError::Parse(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceChoice {
    /// Turns the choice into a candle device. `Auto` never fails: it falls back to the CPU.
    pub fn open(self) -> Result<Device, DeviceError> {
        self.open_with(CudaOptions::default())
    }

    /// [`Self::open`], a CUDA device opened and its kernels loaded as `cuda` says.
    pub fn open_with(self, cuda: CudaOptions) -> Result<Device, DeviceError> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => open_cuda(self, n, cuda),
            Self::Auto => match open_cuda(self, 0, cuda) {
                Ok(device) => Ok(device),
                Err(DeviceError::NoCudaSupport(_)) => Ok(Device::Cpu),
                Err(err) => {
                    tracing::info!("no usable CUDA GPU ({err}); running on the CPU");
                    Ok(Device::Cpu)
                }
            },
        }
    }
}

/// Sets up CPU threading for batch-parallel embedding and returns the number of workers.
///
/// By default candle splits every op across the cores; with few cores and small ops much of that
/// time goes to synchronisation and single-threaded element-wise ops. Running whole batches side
/// by side, each op on one thread, kept 2 cores busier (measured 15% faster on AG News).
/// This builds rayon's global pool with `threads` workers and tells candle (which reads
/// `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` at each op) to stay on the calling thread.
///
/// Call it first thing in `main`, before any other thread exists: it changes the environment.
pub fn configure_cpu_workers(threads: Option<usize>) -> usize {
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    if rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .is_err()
    {
        // A pool exists already (a library caller made one): leave threading as it is.
        return 1;
    }
    // SAFETY (for set_var): called before other threads start, as documented above.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    threads
}

/// A short name for logs and metadata: `cpu` or `cuda:N`.
pub fn describe(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(_) => match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cuda".to_string(),
        },
        Device::Metal(_) => "metal".to_string(),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(
    choice: DeviceChoice,
    ordinal: usize,
    options: CudaOptions,
) -> Result<Device, DeviceError> {
    // Built with cudarc's dynamic loading, a missing driver library is a panic at first use, not
    // an error: catch it so `auto` can fall back to the CPU and `cuda` can say why.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    if options.preload {
        preload_cuda_libraries();
    }
    let opened = std::panic::catch_unwind(|| {
        use candle_core::cuda_backend::cudarc::driver::CudaContext;
        Device::new_cuda(ordinal).map_err(|e| (e, CudaContext::device_count().ok()))
    });
    std::panic::set_hook(hook);
    match opened {
        Ok(Ok(device)) => {
            if let Device::Cuda(cuda) = &device {
                // candle runs everything on one stream, so cudarc's per-buffer event tracking
                // (two events created per allocation, recorded at every launch) only costs
                // time (keeping it measured no different on an H100, 2026-11-26).
                // SAFETY: one stream only: no buffer is used on a stream other than the one it
                // was allocated on.
                unsafe { cuda.disable_event_tracking() };
                // The driver's default release of pool memory measured 7% slower.
                keep_pool_memory(ordinal);
                if options.ptx {
                    ptx_contexts().push(ordinal);
                }
            }
            Ok(device)
        }
        Ok(Err((err, count))) => {
            // candle appends a backtrace to driver errors: keep the message line only.
            let mut reason = err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(n) = count {
                reason.push_str(&format!(" (this machine has {n} CUDA device(s))"));
            }
            Err(DeviceError::Unavailable { choice, reason })
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            // cudarc lists every library name it tried; say it short.
            let reason = if message.contains("Unable to dynamically load") {
                let what = message.split(" - searched").next().unwrap_or(&message);
                format!("{what} (is an NVIDIA driver installed? its libcuda.so.1 must be on the loader path)")
            } else if message.is_empty() {
                "the CUDA libraries could not be loaded".to_string()
            } else {
                message
            };
            Err(DeviceError::Unavailable { choice, reason })
        }
    }
}

/// Loads cuBLAS (libcublasLt alone is some 540 MB: 0.05 s to load from the page cache here,
/// 0.2-0.9 s from disk) and cuRAND on a thread of their own while this one initialises the
/// driver and the context; opening the device then finds them loaded. Only where the driver
/// library loads (no GPU driver, nothing more is loaded). Best effort, in the background: the
/// libraries are loaded under the names cudarc uses and never unloaded.
/// [`CudaOptions::preload`] turns it off, for comparison.
#[cfg(feature = "cuda")]
fn preload_cuda_libraries() {
    use candle_core::cuda_backend::cudarc::driver::sys::CUDA_VERSION;
    let major = CUDA_VERSION / 1000;
    let load = |name: String| {
        let name = std::ffi::CString::new(name).expect("no NUL in a library name");
        // SAFETY: dlopen with the flags libloading (cudarc's loader) uses; the handle is kept
        // for the life of the process, as cudarc keeps its own.
        !unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) }.is_null()
    };
    let spawned = std::thread::Builder::new()
        .name("cuda-preload".into())
        .spawn(move || {
            let t = std::time::Instant::now();
            if !load("libcuda.so.1".into()) {
                return;
            }
            let loaded = [
                format!("libcublasLt.so.{major}"),
                format!("libcublas.so.{major}"),
                "libcurand.so.10".to_string(),
            ]
            .map(load);
            tracing::debug!(
                "CUDA libraries loaded beside the device's opening in {:.3} s ({loaded:?})",
                t.elapsed().as_secs_f64()
            );
        });
    if spawned.is_err() {
        tracing::debug!("could not start the thread that loads the CUDA libraries");
    }
}

/// candle allocates from the device's stream-ordered memory pool, which by default hands its
/// free memory back to the driver at every synchronisation (once a batch), so the next batch
/// maps its buffers anew. Keeping the memory in the pool (as PyTorch's caching allocator does)
/// makes a batch's allocations cheap. Best effort: a failure only costs speed.
#[cfg(feature = "cuda")]
fn keep_pool_memory(ordinal: usize) {
    use candle_core::cuda_backend::cudarc::driver::sys;
    // SAFETY: plain driver calls on a device the caller just opened; `keep` outlives the call.
    unsafe {
        let mut dev: sys::CUdevice = 0;
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        let mut keep: u64 = u64::MAX;
        let ok = sys::cuDeviceGet(&mut dev, ordinal as i32) == sys::CUresult::CUDA_SUCCESS
            && sys::cuDeviceGetDefaultMemPool(&mut pool, dev) == sys::CUresult::CUDA_SUCCESS
            && sys::cuMemPoolSetAttribute(
                pool,
                sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                (&mut keep as *mut u64).cast(),
            ) == sys::CUresult::CUDA_SUCCESS;
        if !ok {
            tracing::debug!("could not set the CUDA memory pool's release threshold");
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(
    choice: DeviceChoice,
    _ordinal: usize,
    _options: CudaOptions,
) -> Result<Device, DeviceError> {
    Err(DeviceError::NoCudaSupport(choice))
}

/// The GPUs (ordinals) opened with [`CudaOptions::ptx`]: their kernels load from PTX.
#[cfg(feature = "cuda")]
fn ptx_contexts() -> std::sync::MutexGuard<'static, Vec<usize>> {
    static PTX: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
    PTX.lock().unwrap_or_else(|e| e.into_inner())
}

/// Loads one of our CUDA modules (build.rs) into `ctx`: its fatbin, whose machine code needs no
/// JIT compilation on the GPUs it was built for, else its PTX (also when the device was opened
/// with [`CudaOptions::ptx`], to measure what the JIT costs). `what` names it in logs.
#[cfg(feature = "cuda")]
pub(crate) fn load_cuda_module(
    ctx: &std::sync::Arc<candle_core::cuda_backend::cudarc::driver::CudaContext>,
    what: &str,
    fatbin: &'static [u8],
    ptx: &'static str,
) -> candle_core::Result<std::sync::Arc<candle_core::cuda_backend::cudarc::driver::CudaModule>> {
    use candle_core::cuda_backend::cudarc::nvrtc::Ptx;
    use candle_core::cuda_backend::WrapErr;
    let started = std::time::Instant::now();
    let jit = ptx_contexts().contains(&ctx.ordinal());
    let (module, from) = if jit {
        (ctx.load_module(Ptx::from_src(ptx)).w()?, "PTX (as asked)")
    } else {
        match ctx.load_module(Ptx::from_binary(fatbin.to_vec())) {
            Ok(m) => (m, "the fatbin"),
            Err(e) => {
                tracing::warn!(
                    "cannot load the {what}' machine code ({e}); compiling their PTX instead"
                );
                (ctx.load_module(Ptx::from_src(ptx)).w()?, "PTX")
            }
        }
    };
    tracing::debug!(
        "{what} loaded from {from} in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(3)
        );
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn auto_always_opens() {
        assert!(DeviceChoice::Auto.open().is_ok());
        assert!(DeviceChoice::Cpu.open().unwrap().is_cpu());
    }

    #[test]
    fn half_precision_needs_cuda() {
        assert!(Precision::F32.check(&Device::Cpu).is_ok());
        let err = Precision::F16.check(&Device::Cpu).unwrap_err();
        assert!(
            err.to_string()
                .contains("precision f16 needs a CUDA device"),
            "{err}"
        );
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_support_is_an_error() {
        let err = DeviceChoice::Cuda(0).open().unwrap_err();
        assert!(err.to_string().contains("built without CUDA"), "{err}");
    }
}
