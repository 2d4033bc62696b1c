//! Our CUDA kernels (the packed forward pass, src/embed/cuda/kernels.cu, and the k-means steps,
//! src/cluster/cuda/kmeans.cu), checked on the CPU.
//!
//! CI has no GPU, and a CUDA build needs a toolkit; yet the kernels' index arithmetic, tiling,
//! reductions and online softmax can be wrong in ways no GPU-less test would see. So the kernel
//! source is compiled by the host C++ compiler against tests/cuda_emulation/ (thread indices,
//! barriers, warp shuffles, half types and the WMMA tensor-core API written out in a few lines;
//! every thread of a block is an OS thread) and its outputs are compared with naive computations
//! from the definitions. On a
//! GPU, `cuda_matches_sentence_transformers` in tests/parity.rs checks the real thing.
//! Ignored (counted as such by the test runner) where build.rs found no C++ compiler (`$CXX`,
//! else `g++`).

use std::path::Path;
use std::process::Command;

#[test]
#[cfg_attr(
    not(has_cxx),
    ignore = "no C++ compiler ($CXX, else g++) for the CUDA emulation"
)]
fn cuda_kernels_match_their_definitions_on_the_cpu() {
    emulate("kernels_test.cpp", "src/embed/cuda/kernels.cu");
}

#[test]
#[cfg_attr(
    not(has_cxx),
    ignore = "no C++ compiler ($CXX, else g++) for the CUDA emulation"
)]
fn kmeans_kernels_match_their_definitions_on_the_cpu() {
    emulate("kmeans_test.cpp", "src/cluster/cuda/kmeans.cu");
}

/// Builds `test` (in tests/cuda_emulation) around the kernels at `kernels` and runs it.
fn emulate(test: &str, kernels: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let emu = root.join("tests/cuda_emulation");
    let kernels = root.join(kernels);
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    assert!(
        Command::new(&cxx).arg("--version").output().is_ok(),
        "no C++ compiler ({cxx}) to build the emulation"
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kernels_test");
    let built = Command::new(&cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-Wno-unknown-pragmas"])
        .arg(format!("-I{}", emu.display()))
        .arg(format!("-DKERNELS=\"{}\"", kernels.display()))
        .arg(emu.join(test))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{cxx} could not build the emulation:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("fails: 0"),
        "kernels differ from their definitions:\n{stdout}"
    );
}
