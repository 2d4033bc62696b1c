// Runs the k-means kernels of src/cluster/cuda/kmeans.cu on the CPU (through emu.h, with the
// launch geometry src/cluster/cuda/mod.rs uses) against the definitions. Prints "fails: N";
// exits 1 when N > 0. Driven by tests/cuda_kernels.rs.
#include "emu.h"
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
#include KERNELS
#include <cstdio>
#include <random>

static int fails = 0;
static void expect(bool ok, const char* what, long i) {
  if (!ok) {
    if (fails < 10) printf("%s: wrong at %ld\n", what, i);
    fails++;
  }
}

int main() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  // 300 rows (not a multiple of the block), k = 7, products drawn at random; row 5 ties two
  // centres (the first wins) and row 9 would go below zero (clamped).
  const uint32_t n = 300, k = 7, block = 128;
  std::vector<float> p(n * k), cc(k), xx(n);
  for (auto& v : p) v = u(rng);
  for (auto& v : cc) v = 1.f + u(rng);
  for (auto& v : xx) v = 2.f + u(rng);
  cc[2] = cc[4] = 1.5f;
  p[5 * k + 2] = p[5 * k + 4] = 5.f;
  xx[9] = 0.f;
  for (uint32_t j = 0; j < k; j++) p[9 * k + j] = j == 3 ? 10.f : -1.f;
  std::vector<uint32_t> labels(n, 99);
  std::vector<float> best(n, -1.f);
  launch({(n + block - 1) / block, 1, 1}, {block, 1, 1},
         [&] { kmeans_assign(p.data(), cc.data(), xx.data(), n, k, labels.data(), best.data()); });
  for (uint32_t i = 0; i < n; i++) {
    uint32_t arg = 0;
    float least = 0.f;
    for (uint32_t j = 0; j < k; j++) {
      float d = std::max(xx[i] + cc[j] - 2.f * p[i * k + j], 0.f);
      if (j == 0 || d < least) { least = d; arg = j; }
    }
    expect(labels[i] == arg, "kmeans_assign label", i);
    expect(best[i] == least, "kmeans_assign best", i);
  }
  expect(labels[5] == 2, "tie goes to the first centre", 5);
  expect(best[9] == 0.f && labels[9] == 3, "negative distance clamped", 9);

  std::vector<float> onehot(n * k, -1.f);
  uint32_t total = n * k;
  launch({(total + 255) / 256, 1, 1}, {256, 1, 1}, [&] { kmeans_onehot(labels.data(), n, k, onehot.data()); });
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < k; j++)
      expect(onehot[i * k + j] == (labels[i] == j ? 1.f : 0.f), "kmeans_onehot", (long)(i * k + j));
  printf("fails: %d\n", fails);
  return fails != 0;
}
