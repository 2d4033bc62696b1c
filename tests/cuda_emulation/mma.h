// Stand-in for CUDA's <mma.h> (WMMA, 16x16x16 tiles) in the CPU emulation (emu.h). Every lane
// holds the whole tile and computes the whole product (a warp's lanes agree, as the collective
// operations promise); only lane 0 of a warp stores, and its stores land at its next barrier,
// so a lane that reads the tile before a __syncwarp() sees stale values. Pointers and strides are checked
// against WMMA's rules (256-bit aligned pointer; ldm a multiple of 16 bytes), and a break of
// them aborts.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include "cuda_fp16.h"
#include "cuda_bf16.h"

namespace nvcuda {
namespace wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

// The tile, row after row: A is m x k, B is k x n, an accumulator m x n.
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  float t[16 * 16];
};

inline float emu_value(float x) { return x; }
inline float emu_value(__half x) { return x.f; }
inline float emu_value(__nv_bfloat16 x) { return x.f; }

inline void emu_check(const void* p, unsigned ldm, unsigned elem_bytes) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0 || (ldm * elem_bytes) % 16 != 0) {
    fprintf(stderr, "wmma: pointer %p not 256-bit aligned or ldm %u not a multiple of 16 bytes\n", p, ldm);
    abort();
  }
}

template <typename F>
void fill_fragment(F& f, float v) {
  for (auto& e : f.t) e = v;
}

template <typename T>
void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
  emu_check(p, ldm, sizeof(T));
  for (int m = 0; m < 16; m++)
    for (int k = 0; k < 16; k++) f.t[m * 16 + k] = emu_value(p[m * ldm + k]);
}
template <typename T>
void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, row_major>& f, const T* p, unsigned ldm) {
  emu_check(p, ldm, sizeof(T));
  for (int k = 0; k < 16; k++)
    for (int n = 0; n < 16; n++) f.t[k * 16 + n] = emu_value(p[k * ldm + n]);
}
template <typename T>
void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, col_major>& f, const T* p, unsigned ldm) {
  emu_check(p, ldm, sizeof(T));
  for (int k = 0; k < 16; k++)
    for (int n = 0; n < 16; n++) f.t[k * 16 + n] = emu_value(p[n * ldm + k]);
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t l) {
  emu_check(p, ldm, sizeof(float));
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) f.t[m * 16 + n] = l == mem_row_major ? p[m * ldm + n] : p[n * ldm + m];
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
  emu_check(p, ldm, sizeof(float));
  if (tid() % 32 != 0) return;
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++)
      g_pending_stores.emplace_back(l == mem_row_major ? &p[m * ldm + n] : &p[n * ldm + m], f.t[m * 16 + n]);
}
template <typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float r[16 * 16];
  for (int m = 0; m < 16; m++)
    for (int n = 0; n < 16; n++) {
      float s = c.t[m * 16 + n];
      for (int k = 0; k < 16; k++) s += a.t[m * 16 + k] * b.t[k * 16 + n];
      r[m * 16 + n] = s;
    }
  for (int i = 0; i < 16 * 16; i++) d.t[i] = r[i];
}
}  // namespace wmma
}  // namespace nvcuda
