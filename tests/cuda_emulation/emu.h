// Just enough of CUDA to run src/embed/cuda/kernels.cu on the CPU (tests/cuda_kernels.rs).
// Blocks run one after another; every thread of a block is an OS thread, `__syncthreads` is a
// barrier, `__syncwarp` a barrier of the thread's warp, `__shared__` arrays are statics (one
// block at a time), and a warp shuffle is a block-wide exchange (our kernels shuffle with all
// live threads of a block). Threads that return early leave the barriers (arrive_and_drop), as
// exited CUDA threads leave __syncthreads. WMMA is in mma.h.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <algorithm>
#include <barrier>
#include <thread>
#include <vector>
#include <functional>
#include <memory>
#include <utility>
struct float4 { float x, y, z, w; };
struct float2 { float x, y; };
inline float2 make_float2(float a, float b) { return float2{a, b}; }
struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
inline std::barrier<>* g_bar = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> g_warp_bars;
inline float g_slots[1024];
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __align__(x) __attribute__((aligned(x)))
using std::min;
// WMMA stores (mma.h) land at the storing lane's next barrier: a read that is not ordered
// after one by a barrier sees the old values (a missing __syncwarp shows as wrong results).
inline thread_local std::vector<std::pair<float*, float>> g_pending_stores;
inline void flush_stores() {
  for (auto& [p, v] : g_pending_stores) *p = v;
  g_pending_stores.clear();
}
inline void __syncthreads() { flush_stores(); g_bar->arrive_and_wait(); }
inline float __expf(float x) { return expf(x); }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline int tid() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }
inline void __syncwarp(unsigned = 0xffffffffu) { flush_stores(); g_warp_bars[tid() / 32]->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
  int t = tid();
  g_slots[t] = v;
  g_bar->arrive_and_wait();
  float r = g_slots[t ^ o];
  g_bar->arrive_and_wait();
  return r;
}
inline void launch(dim3 grid, dim3 block, std::function<void()> f) {
  gridDim = grid; blockDim = block;
  int n = block.x * block.y * block.z;
  for (unsigned z = 0; z < grid.z; z++) for (unsigned y = 0; y < grid.y; y++) for (unsigned x = 0; x < grid.x; x++) {
    std::barrier<> bar(n);
    g_bar = &bar;
    g_warp_bars.clear();
    for (int w = 0; w * 32 < n; w++) g_warp_bars.push_back(std::make_unique<std::barrier<>>(std::min(32, n - w * 32)));
    std::vector<std::thread> ts;
    for (unsigned tz = 0; tz < block.z; tz++) for (unsigned ty = 0; ty < block.y; ty++) for (unsigned tx = 0; tx < block.x; tx++) {
      ts.emplace_back([=, &bar] {
        blockIdx = {x, y, z}; threadIdx = {tx, ty, tz}; f();
        flush_stores();
        bar.arrive_and_drop();
        g_warp_bars[tid() / 32]->arrive_and_drop();
      });
    }
    for (auto& t : ts) t.join();
  }
}
