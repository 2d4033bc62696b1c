// k-means steps on CUDA around cuBLAS products (src/cluster/device_kmeans.rs): the arg-min of
// each row's squared distances, and the one-hot assignment matrix for the centroid sums.
// Compiled by build.rs into machine code like the embedding kernels: candle's own kernels for
// the same steps ship as PTX, which the driver compiled for 17 s on a new H100 machine.

#include <stdint.h>

// Row i's nearest centre: the first j with the least max(‖x_i‖² + ‖c_j‖² − 2·p_ij, 0), where
// p = X·Cᵀ (n × k, row-major), cc = ‖c_j‖² and xx = ‖x_i‖². One thread per row.
extern "C" __global__ void kmeans_assign(const float* p, const float* cc, const float* xx,
                                         uint32_t n, uint32_t k, uint32_t* labels, float* best) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* row = p + (size_t)i * k;
  float x2 = xx[i];
  uint32_t arg = 0;
  float least = 0.f;
  for (uint32_t j = 0; j < k; j++) {
    float d = fmaxf(__fsub_rn(__fadd_rn(x2, cc[j]), __fmul_rn(2.f, row[j])), 0.f);
    if (j == 0 || d < least) {
      least = d;
      arg = j;
    }
  }
  labels[i] = arg;
  best[i] = least;
}

// onehot[i][j] = 1 where labels[i] == j, else 0 (n × k, row-major). One thread per element.
extern "C" __global__ void kmeans_onehot(const uint32_t* labels, uint32_t n, uint32_t k, float* onehot) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= (size_t)n * k) return;
  onehot[t] = labels[t / k] == (uint32_t)(t % k) ? 1.f : 0.f;
}
