//! With the `cuda` feature, compiles our CUDA kernels (the packed forward pass,
//! src/embed/cuda/kernels.cu, and the k-means steps, src/cluster/cuda/kmeans.cu) with nvcc
//! ($NVCC, else nvcc on PATH or in $CUDA_HOME/bin), each into
//! - a fatbin holding machine code (SASS) for compute capability $CUDA_COMPUTE_CAP (default 80)
//!   and for the common data-centre GPUs above it (8.6, 8.9, 9.0), plus PTX for
//!   $CUDA_COMPUTE_CAP that the driver compiles for newer GPUs: a GPU the fatbin has SASS for
//!   loads the kernels without the driver's JIT compiler (over a second on a fresh machine);
//! - the same PTX on its own, loaded when `--cuda-ptx` asks for it (to measure what the JIT
//!   costs) or when the fatbin cannot be loaded.
//!
//! Without the feature it compiles nothing. Either way it sets `has_cxx` when a C++ compiler
//! ($CXX, else g++) answers: the CUDA emulation tests need one, and are ignored (counted as
//! such) without it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each source and the name of its outputs in OUT_DIR (`NAME.fatbin`, `NAME.ptx`).
const SOURCES: [(&str, &str); 2] = [
    ("src/embed/cuda/kernels.cu", "packed_kernels"),
    ("src/cluster/cuda/kmeans.cu", "kmeans_kernels"),
];

fn main() {
    for (source, _) in SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-changed=src/embed/cuda/attention_tc.cuh");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CXX");
    println!("cargo::rustc-check-cfg=cfg(has_cxx)");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    if Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("cargo:rustc-cfg=has_cxx");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".into());
    let cap: u32 = cap
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("CUDA_COMPUTE_CAP={cap:?} is not a compute capability like 90"));
    let nvcc = std::env::var("NVCC")
        .ok()
        .unwrap_or_else(|| match std::env::var("CUDA_HOME") {
            Ok(home) if PathBuf::from(&home).join("bin/nvcc").exists() => {
                format!("{home}/bin/nvcc")
            }
            _ => "nvcc".into(),
        });
    let mut sass: Vec<u32> = [80, 86, 89, 90].into_iter().filter(|&c| c >= cap).collect();
    if !sass.contains(&cap) {
        sass.insert(0, cap);
    }
    let mut fatbin = vec![
        "--fatbin".to_string(),
        format!("-gencode=arch=compute_{cap},code=compute_{cap}"),
    ];
    fatbin.extend(
        sass.iter()
            .map(|c| format!("-gencode=arch=compute_{c},code=sm_{c}")),
    );
    for (source, name) in SOURCES {
        nvcc_run(&nvcc, &fatbin, source, &out.join(format!("{name}.fatbin")));
        nvcc_run(
            &nvcc,
            &["--ptx".to_string(), format!("-arch=compute_{cap}")],
            source,
            &out.join(format!("{name}.ptx")),
        );
    }
}

fn nvcc_run(nvcc: &str, mode: &[String], source: &str, output: &Path) {
    let status = Command::new(nvcc)
        .args(mode)
        .args(["-O3", "-std=c++17", source, "-o"])
        .arg(output)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {nvcc} (needed by the cuda feature): {e}"));
    assert!(status.success(), "{nvcc} failed on {source}");
}
