//! With the `cuda` feature, compiles the packed-forward kernels (src/embed/cuda/kernels.cu) to
//! PTX with nvcc ($NVCC, else nvcc on PATH or in $CUDA_HOME/bin) for compute capability
//! $CUDA_COMPUTE_CAP (default 80: PTX for 8.0 is JIT-compiled by the driver for newer GPUs).
//! Without the feature it does nothing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/embed/cuda/kernels.cu");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".into());
    let cap: String = cap.chars().filter(|c| c.is_ascii_digit()).collect();
    let nvcc = std::env::var("NVCC")
        .ok()
        .unwrap_or_else(|| match std::env::var("CUDA_HOME") {
            Ok(home) if PathBuf::from(&home).join("bin/nvcc").exists() => {
                format!("{home}/bin/nvcc")
            }
            _ => "nvcc".into(),
        });
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17"])
        .arg(format!("-arch=compute_{cap}"))
        .arg("src/embed/cuda/kernels.cu")
        .arg("-o")
        .arg(out.join("packed_kernels.ptx"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {nvcc} (needed by the cuda feature): {e}"));
    assert!(
        status.success(),
        "{nvcc} failed on src/embed/cuda/kernels.cu"
    );
}
