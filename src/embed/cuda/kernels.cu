// Fused kernels for the packed (padding-free) BERT forward pass on CUDA; see src/embed/cuda/mod.rs.
//
// Layout: a batch of B texts is packed into T = sum(len_i) token rows; `cu` holds the B + 1 row
// offsets (cu[0] = 0, cu[B] = T). Every kernel computes in f32 whatever the storage type.
// Compiled by build.rs (nvcc: a fatbin, and PTX) when the `cuda` feature is on. The tensor-core
// attention for f16/bf16 is in attention_tc.cuh.

#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

// Two neighbouring elements (the address is a multiple of two elements).
__device__ __forceinline__ void load2(const float* p, float& a, float& b) {
  float2 v = *reinterpret_cast<const float2*>(p);
  a = v.x;
  b = v.y;
}
__device__ __forceinline__ void load2(const __half* p, float& a, float& b) {
  __half2 v = *reinterpret_cast<const __half2*>(p);
  a = __low2float(v);
  b = __high2float(v);
}
__device__ __forceinline__ void load2(const __nv_bfloat16* p, float& a, float& b) {
  __nv_bfloat162 v = *reinterpret_cast<const __nv_bfloat162*>(p);
  a = __low2float(v);
  b = __high2float(v);
}
__device__ __forceinline__ void store2(float* p, float a, float b) { *reinterpret_cast<float2*>(p) = make_float2(a, b); }
__device__ __forceinline__ void store2(__half* p, float a, float b) { *reinterpret_cast<__half2*>(p) = __floats2half2_rn(a, b); }
__device__ __forceinline__ void store2(__nv_bfloat16* p, float a, float b) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(a, b);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// yr = LayerNorm(a + b + bias) * gamma + beta for one row of n <= 1024 columns, by one warp
// (lane holds columns lane + 32 i). p holds bias, gamma and beta: 3 * n values.
template <typename T>
__device__ __forceinline__ void warp_layer_norm(const T* a, const T* b, const T* p, T* yr, int n, float eps) {
  int lane = threadIdx.x;
  float v[32];
#pragma unroll
  for (int i = 0; i < 32; i++) {
    int c = lane + i * 32;
    v[i] = c < n ? to_f(a[c]) + to_f(b[c]) + to_f(p[c]) : 0.f;
  }
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < 32; i++) s += v[i];
  float mean = warp_sum(s) / n;
  float q = 0.f;
#pragma unroll
  for (int i = 0; i < 32; i++) {
    int c = lane + i * 32;
    if (c < n) {
      float d = v[i] - mean;
      q += d * d;
    }
  }
  float rstd = rsqrtf(warp_sum(q) / n + eps);
#pragma unroll
  for (int i = 0; i < 32; i++) {
    int c = lane + i * 32;
    if (c < n) yr[c] = from_f<T>((v[i] - mean) * rstd * to_f(p[n + c]) + to_f(p[2 * n + c]));
  }
}

// y = LayerNorm(x + r + bias) * gamma + beta, one warp per row of n <= 1024 columns.
// `p` holds bias, gamma and beta one after the other (3 * n values).
template <typename T>
__device__ void add_layer_norm(const T* x, const T* r, const T* p, T* y, int rows, int n, float eps) {
  int row = blockIdx.x * blockDim.y + threadIdx.y;
  if (row >= rows) return;
  warp_layer_norm<T>(x + (size_t)row * n, r + (size_t)row * n, p, y + (size_t)row * n, n, eps);
}

// BERT's embedding layer on packed tokens: y = LayerNorm(word[ids[t]] + pos[positions[t]] +
// type0) per token t. `table` is the word table followed by the position table (rows from
// pos_offset on); idx holds the T ids then the T positions; p = [type0 | gamma | beta].
template <typename T>
__device__ void embed_layer_norm(const T* table, const uint32_t* idx, const T* p, T* y, int rows, int n,
                                 int pos_offset, float eps) {
  int row = blockIdx.x * blockDim.y + threadIdx.y;
  if (row >= rows) return;
  const T* wr = table + (size_t)idx[row] * n;
  const T* pr = table + ((size_t)pos_offset + idx[rows + row]) * n;
  warp_layer_norm<T>(wr, pr, p, y + (size_t)row * n, n, eps);
}

__device__ __forceinline__ float activate(float v, int act) {
  if (act == 0) return 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  if (act == 1) return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  return fmaxf(v, 0.f);
}

// y = act(x + bias), bias broadcast over rows of n columns (n even), two columns a thread.
// act: 0 GELU (erf), 1 GELU (tanh), 2 ReLU. Grid (rows, ceil(n / 2 / blockDim.x)).
template <typename T>
__device__ void bias_act(const T* x, const T* bias, T* y, int n, int act) {
  int c = 2 * (blockIdx.y * blockDim.x + threadIdx.x);
  if (c >= n) return;
  size_t i = (size_t)blockIdx.x * n + c;
  float a, b, ba, bb;
  load2(x + i, a, b);
  load2(bias + c, ba, bb);
  store2(y + i, activate(a + ba, act), activate(b + bb, act));
}

// Self-attention over packed sequences, no padding and no mask: each query of text b attends to
// the len_b keys of text b only. q, k and v rows are `ld` elements apart (the three projections
// side by side in one buffer, or three buffers), heads * D wide (head-major); `bias`
// (3 * heads * D: q, k, v) is added on load. out rows are heads * D wide.
// Grid (ceil(max_len / blockDim.x), heads, B); one thread per query row; keys in shared-memory
// tiles of KT, scored CH at a time (independent dot products), online softmax in f32.
#define KT 64
#define CH 8
template <typename T, int D>
__device__ void attention(const T* q, const T* k, const T* v, const T* bias, const uint32_t* cu, T* out,
                          int heads, float scale, int ld) {
  __shared__ __align__(16) float ks[KT][D];
  __shared__ __align__(16) float vs[KT][D];
  int b = blockIdx.z, h = blockIdx.y;
  int start = (int)cu[b];
  int len = (int)cu[b + 1] - start;
  if ((int)(blockIdx.x * blockDim.x) >= len) return;  // uniform for the whole block
  int hd = heads * D;
  int qi = blockIdx.x * blockDim.x + threadIdx.x;
  bool active = qi < len;
  float qr[D], acc[D];
#pragma unroll
  for (int d = 0; d < D; d++) {
    acc[d] = 0.f;
    qr[d] = active ? (to_f(q[(size_t)(start + qi) * ld + h * D + d]) + to_f(bias[h * D + d])) * scale : 0.f;
  }
  float m = -INFINITY, l = 0.f;
  for (int k0 = 0; k0 < len; k0 += KT) {
    int kn = min(KT, len - k0);
    for (int idx = threadIdx.x; idx < kn * D; idx += blockDim.x) {
      int j = idx / D, d = idx % D;
      size_t row = (size_t)(start + k0 + j) * ld + h * D + d;
      ks[j][d] = to_f(k[row]) + to_f(bias[hd + h * D + d]);
      vs[j][d] = to_f(v[row]) + to_f(bias[2 * hd + h * D + d]);
    }
    __syncthreads();
    if (active) {
      for (int j0 = 0; j0 < kn; j0 += CH) {
        float s[CH];
#pragma unroll
        for (int u = 0; u < CH; u++) {
          float t = 0.f;
          if (j0 + u < kn) {
            const float4* kr = reinterpret_cast<const float4*>(ks[j0 + u]);
#pragma unroll
            for (int d4 = 0; d4 < D / 4; d4++) {
              float4 kv = kr[d4];
              t += qr[4 * d4] * kv.x + qr[4 * d4 + 1] * kv.y + qr[4 * d4 + 2] * kv.z + qr[4 * d4 + 3] * kv.w;
            }
          } else {
            t = -INFINITY;
          }
          s[u] = t;
        }
        float mx = m;
#pragma unroll
        for (int u = 0; u < CH; u++) mx = fmaxf(mx, s[u]);
        float c = __expf(m - mx);  // 0 on the first chunk (m = -inf)
        l *= c;
#pragma unroll
        for (int d = 0; d < D; d++) acc[d] *= c;
        m = mx;
#pragma unroll
        for (int u = 0; u < CH; u++) {
          if (j0 + u < kn) {
            float e = __expf(s[u] - m);
            l += e;
            const float4* vr = reinterpret_cast<const float4*>(vs[j0 + u]);
#pragma unroll
            for (int d4 = 0; d4 < D / 4; d4++) {
              float4 vv = vr[d4];
              acc[4 * d4] += e * vv.x;
              acc[4 * d4 + 1] += e * vv.y;
              acc[4 * d4 + 2] += e * vv.z;
              acc[4 * d4 + 3] += e * vv.w;
            }
          }
        }
      }
    }
    __syncthreads();
  }
  if (active) {
    float inv = 1.f / l;
    T* o = out + (size_t)(start + qi) * hd + h * D;
#pragma unroll
    for (int d = 0; d < D; d++) o[d] = from_f<T>(acc[d] * inv);
  }
}

// Sentence vectors from packed token rows: out (B, n) f32, n <= 1024. mode: 0 mean, 1 CLS
// (first token), 2 max, 3 sum / sqrt(len) (sentence-transformers' mean_sqrt_len). With
// `normalize`, each vector is scaled to unit L2 norm (max(norm, 1e-12), as torch's F.normalize).
// Grid (B), 128 threads over columns.
template <typename T>
__device__ void pool(const T* x, const uint32_t* cu, float* out, int n, int mode, int normalize) {
  __shared__ float vals[1024];
  __shared__ float partial[4];
  int b = blockIdx.x;
  int start = (int)cu[b];
  int len = (int)cu[b + 1] - start;
  float sq = 0.f;
  for (int c = threadIdx.x; c < n; c += blockDim.x) {
    float r;
    if (len == 0) {
      r = 0.f;
    } else if (mode == 1) {
      r = to_f(x[(size_t)start * n + c]);
    } else if (mode == 2) {
      r = -INFINITY;
      for (int t = 0; t < len; t++) r = fmaxf(r, to_f(x[(size_t)(start + t) * n + c]));
    } else {
      float s = 0.f;
      for (int t = 0; t < len; t++) s += to_f(x[(size_t)(start + t) * n + c]);
      r = mode == 3 ? s / sqrtf((float)len) : s / (float)len;
    }
    vals[c] = r;
    sq += r * r;
  }
  float scale = 1.f;
  if (normalize) {
    sq = warp_sum(sq);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sq;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++) total += partial[w];
    scale = 1.f / fmaxf(sqrtf(total), 1e-12f);
  }
  for (int c = threadIdx.x; c < n; c += blockDim.x) out[(size_t)b * n + c] = vals[c] * scale;
}

#define INSTANTIATE(T, NAME)                                                                        \
  extern "C" __global__ void add_layer_norm_##NAME(const T* x, const T* r, const T* p, T* y,         \
                                                   int rows, int n, float eps) {                    \
    add_layer_norm<T>(x, r, p, y, rows, n, eps);                                                    \
  }                                                                                                 \
  extern "C" __global__ void embed_layer_norm_##NAME(const T* table, const uint32_t* idx, const T* p, \
                                                     T* y, int rows, int n, int pos_offset,         \
                                                     float eps) {                                   \
    embed_layer_norm<T>(table, idx, p, y, rows, n, pos_offset, eps);                                \
  }                                                                                                 \
  extern "C" __global__ void bias_act_##NAME(const T* x, const T* bias, T* y, int n, int act) {      \
    bias_act<T>(x, bias, y, n, act);                                                                \
  }                                                                                                 \
  extern "C" __global__ void attention32_##NAME(const T* q, const T* k, const T* v, const T* bias,  \
                                                const uint32_t* cu, T* out, int heads, float scale, \
                                                int ld) {                                           \
    attention<T, 32>(q, k, v, bias, cu, out, heads, scale, ld);                                     \
  }                                                                                                 \
  extern "C" __global__ void attention64_##NAME(const T* q, const T* k, const T* v, const T* bias,  \
                                                const uint32_t* cu, T* out, int heads, float scale, \
                                                int ld) {                                           \
    attention<T, 64>(q, k, v, bias, cu, out, heads, scale, ld);                                     \
  }                                                                                                 \
  extern "C" __global__ void pool_##NAME(const T* x, const uint32_t* cu, float* out, int n,          \
                                         int mode, int normalize) {                                 \
    pool<T>(x, cu, out, n, mode, normalize);                                                        \
  }

INSTANTIATE(float, f32)
INSTANTIATE(__half, f16)
INSTANTIATE(__nv_bfloat16, bf16)

#include "attention_tc.cuh"

#define INSTANTIATE_TC(T, NAME)                                                                     \
  extern "C" __global__ void attention_tc32_##NAME(const T* q, const T* k, const T* v, const T* bias, \
                                                   const uint32_t* cu, T* out, int heads,          \
                                                   float scale, int ld) {                          \
    attention_tc<T, 32>(q, k, v, bias, cu, out, heads, scale, ld);                                  \
  }                                                                                                 \
  extern "C" __global__ void attention_tc64_##NAME(const T* q, const T* k, const T* v, const T* bias, \
                                                   const uint32_t* cu, T* out, int heads,          \
                                                   float scale, int ld) {                          \
    attention_tc<T, 64>(q, k, v, bias, cu, out, heads, scale, ld);                                  \
  }

INSTANTIATE_TC(__half, f16)
// bf16 tensor-core products need compute capability 8.0 (a build for an older GPU has none).
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
INSTANTIATE_TC(__nv_bfloat16, bf16)
#endif
