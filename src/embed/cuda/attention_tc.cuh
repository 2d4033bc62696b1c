// Tensor-core attention for f16/bf16 models (sm_80 and newer), included by kernels.cu: the same
// contract and launch grid as attention<T, D> there, with 128 threads a block.
//
// A block takes 64 queries of one text and one head: four warps of 16 query rows. Keys and values
// come in shared-memory tiles of 32; each warp scores its rows against a tile with WMMA products
// (16x16x16, f32 accumulation), runs the online softmax in f32 (two lanes a row), and adds
// probabilities x values into an f32 output tile, again with WMMA. Only the documented WMMA API
// is used (fragments go through shared memory, never element by element), so the emulation in
// tests/cuda_emulation/mma.h can check the kernel on the CPU.
//
// Biases: the query bias is added before the product. The key bias is left out: it adds
// q . bias_k to every score of a query, which the softmax cancels. The value bias is added to
// the output: the probabilities of a query sum to one.

#include <mma.h>

#define TC_QT 64  // queries a block
#define TC_KT 32  // keys a tile
#define TC_WARPS 4

template <typename T, int D>
__device__ void attention_tc(const T* q, const T* k, const T* v, const T* bias, const uint32_t* cu, T* out,
                             int heads, float scale, int ld) {
  using namespace nvcuda;
  constexpr int LQ = D + 8;      // row stride of the query, key and value tiles (elements)
  constexpr int LS = TC_KT + 4;  // scores (floats)
  constexpr int LP = TC_KT + 8;  // probabilities (elements)
  constexpr int LO = D + 4;      // output accumulator (floats)
  constexpr int Q_BYTES = TC_QT * LQ * (int)sizeof(T);
  constexpr int O_BYTES = TC_WARPS * 16 * LO * (int)sizeof(float);
  // The queries are read into fragments first; the output accumulator then takes their place.
  __shared__ __align__(32) unsigned char qo[Q_BYTES > O_BYTES ? Q_BYTES : O_BYTES];
  __shared__ __align__(32) T ks[TC_KT * LQ];
  __shared__ __align__(32) T vs[TC_KT * LQ];
  __shared__ __align__(32) float ss[TC_WARPS][16 * LS];
  __shared__ __align__(32) T ps[TC_WARPS][16 * LP];
  __shared__ float row_m[TC_WARPS][16];
  __shared__ float row_l[TC_WARPS][16];
  T* qs = reinterpret_cast<T*>(qo);
  float(*os)[16 * LO] = reinterpret_cast<float(*)[16 * LO]>(qo);

  int b = blockIdx.z, h = blockIdx.y;
  int start = (int)cu[b];
  int len = (int)cu[b + 1] - start;
  int q0 = blockIdx.x * TC_QT;
  if (q0 >= len) return;  // uniform for the whole block
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int hd = heads * D;

  // Queries with their bias, scaled; rows past the text are zeros.
  for (int idx = tid; idx < TC_QT * D; idx += blockDim.x) {
    int i = idx / D, d = idx % D;
    float x = 0.f;
    if (q0 + i < len) x = (to_f(q[(size_t)(start + q0 + i) * ld + h * D + d]) + to_f(bias[h * D + d])) * scale;
    qs[i * LQ + d] = from_f<T>(x);
  }
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[D / 16];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) wmma::load_matrix_sync(qf[kk], qs + warp * 16 * LQ + kk * 16, LQ);
  __syncthreads();  // every warp holds its queries: the accumulator may overwrite them
  for (int idx = lane; idx < 16 * LO; idx += 32) os[warp][idx] = 0.f;
  if (lane < 16) {
    row_m[warp][lane] = -INFINITY;
    row_l[warp][lane] = 0.f;
  }
  const int r = lane >> 1, side = lane & 1;  // two lanes a row, each half of the columns

  for (int k0 = 0; k0 < len; k0 += TC_KT) {
    __syncthreads();  // the previous tile is used up
    for (int idx = tid; idx < TC_KT * D; idx += blockDim.x) {
      int j = idx / D, d = idx % D;
      bool in = k0 + j < len;
      size_t row = (size_t)(start + k0 + j) * ld + h * D + d;
      ks[j * LQ + d] = in ? k[row] : from_f<T>(0.f);
      vs[j * LQ + d] = in ? v[row] : from_f<T>(0.f);
    }
    __syncthreads();

    // Scores of this warp's 16 queries against the tile's keys.
#pragma unroll
    for (int n = 0; n < TC_KT / 16; n++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> s;
      wmma::fill_fragment(s, 0.f);
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, ks + n * 16 * LQ + kk * 16, LQ);
        wmma::mma_sync(s, qf[kk], kf, s);
      }
      wmma::store_matrix_sync(ss[warp] + n * 16, s, LS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of row r: running max and sum, probabilities (rounded to T, and summed
    // as rounded, so the weights used sum to one), the accumulator rescaled.
    {
      constexpr int HALF = TC_KT / 2;
      const int c0 = side * HALF;
      const float* sr = ss[warp] + r * LS + c0;
      float mx = -INFINITY;
#pragma unroll
      for (int c = 0; c < HALF; c++)
        if (k0 + c0 + c < len) mx = fmaxf(mx, sr[c]);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      const float m_old = row_m[warp][r];
      const float m_new = fmaxf(m_old, mx);  // finite: key k0 is in the text
      float sum = 0.f;
      T* pr = ps[warp] + r * LP + c0;
#pragma unroll
      for (int c = 0; c < HALF; c++) {
        T p = from_f<T>(k0 + c0 + c < len ? __expf(sr[c] - m_new) : 0.f);
        pr[c] = p;
        sum += to_f(p);
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      const float alpha = __expf(m_old - m_new);  // 0 on the first tile
      float* orow = os[warp] + r * LO + side * (D / 2);
#pragma unroll
      for (int c = 0; c < D / 2; c++) orow[c] *= alpha;
      __syncwarp();  // both lanes of a row have read its running max
      if (side == 0) {
        row_m[warp][r] = m_new;
        row_l[warp][r] = row_l[warp][r] * alpha + sum;
      }
    }
    __syncwarp();

    // accumulator += probabilities x values.
#pragma unroll
    for (int dn = 0; dn < D / 16; dn++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
      wmma::load_matrix_sync(o, os[warp] + dn * 16, LO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < TC_KT / 16; kk++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, ps[warp] + kk * 16, LP);
        wmma::load_matrix_sync(vf, vs + kk * 16 * LQ + dn * 16, LQ);
        wmma::mma_sync(o, pf, vf, o);
      }
      wmma::store_matrix_sync(os[warp] + dn * 16, o, LO, wmma::mem_row_major);
    }
    __syncwarp();
  }

  // This warp's rows that belong to the text: normalised, plus the value bias.
  const int i = q0 + warp * 16 + r;
  if (i < len) {
    const float inv = 1.f / row_l[warp][r];
    const float* orow = os[warp] + r * LO;
    T* dst = out + (size_t)(start + i) * hd + h * D;
    for (int c = side * (D / 2); c < (side + 1) * (D / 2); c++)
      dst[c] = from_f<T>(orow[c] * inv + to_f(bias[2 * hd + h * D + c]));
  }
}
