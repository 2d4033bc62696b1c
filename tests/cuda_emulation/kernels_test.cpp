// Runs every kernel of src/embed/cuda/kernels.cu on the CPU (through emu.h, with the launch
// geometry src/embed/cuda/mod.rs uses) and compares it with a naive computation straight from
// the definition. Prints "fails: N"; exits 1 when N > 0. Driven by tests/cuda_kernels.rs.
#include "emu.h"
#include KERNELS
#include <cstdio>
#include <random>

static std::mt19937 rng(1);
static float rnd() { return std::uniform_real_distribution<float>(-1, 1)(rng); }
static int fails = 0;
static void check(const char* what, float got, float want, float tol) {
  if (!(fabsf(got - want) <= tol)) {
    if (fails < 10) printf("%s: got %f, want %f\n", what, got, want);
    fails++;
  }
}

// Layer norm of v (n values) then * gamma + beta, in double.
static std::vector<double> layer_norm(const std::vector<double>& v, const float* gamma, const float* beta, double eps) {
  int n = v.size();
  double m = 0, q = 0;
  for (double x : v) m += x;
  m /= n;
  for (double x : v) q += (x - m) * (x - m);
  double rs = 1 / sqrt(q / n + eps);
  std::vector<double> out(n);
  for (int c = 0; c < n; c++) out[c] = (v[c] - m) * rs * gamma[c] + beta[c];
  return out;
}

static void test_add_layer_norm() {
  int rows = 7, n = 384;  // 7 rows: the last block of 4 warps is not full
  std::vector<__half> x(rows * n), r(rows * n), p(3 * n), y(rows * n);
  std::vector<float> pf(3 * n);
  for (auto& v : x) v = __float2half(rnd());
  for (auto& v : r) v = __float2half(rnd());
  for (int i = 0; i < 3 * n; i++) { p[i] = __float2half(rnd()); pf[i] = p[i].f; }
  launch({(unsigned)((rows + 3) / 4), 1, 1}, {32, 4, 1},
         [&] { add_layer_norm_f16(x.data(), r.data(), p.data(), y.data(), rows, n, 1e-12f); });
  for (int i = 0; i < rows; i++) {
    std::vector<double> v(n);
    for (int c = 0; c < n; c++) v[c] = x[i * n + c].f + r[i * n + c].f + pf[c];
    auto want = layer_norm(v, &pf[n], &pf[2 * n], 1e-12);
    for (int c = 0; c < n; c++) check("add_layer_norm", y[i * n + c].f, want[c], 2e-2);  // f16 output
  }
}

static void test_embed_layer_norm() {
  int vocab = 50, positions = 20, n = 384, rows = 9;
  std::vector<float> table((vocab + positions) * n), p(3 * n), y(rows * n);
  std::vector<uint32_t> idx(2 * rows);
  for (auto& v : table) v = rnd();
  for (auto& v : p) v = rnd();
  for (int t = 0; t < rows; t++) { idx[t] = (t * 7 + 3) % vocab; idx[rows + t] = t % 4; }
  launch({(unsigned)((rows + 3) / 4), 1, 1}, {32, 4, 1},
         [&] { embed_layer_norm_f32(table.data(), idx.data(), p.data(), y.data(), rows, n, vocab, 1e-12f); });
  for (int i = 0; i < rows; i++) {
    std::vector<double> v(n);
    for (int c = 0; c < n; c++) v[c] = table[idx[i] * n + c] + table[(vocab + idx[rows + i]) * n + c] + p[c];
    auto want = layer_norm(v, &p[n], &p[2 * n], 1e-12);
    for (int c = 0; c < n; c++) check("embed_layer_norm", y[i * n + c], want[c], 1e-4);
  }
}

static void test_bias_act() {
  int rows = 5, n = 1536;
  std::vector<float> x(rows * n), b(n), y(rows * n);
  for (auto& v : x) v = rnd() * 3;
  for (auto& v : b) v = rnd();
  for (int act = 0; act < 3; act++) {
    launch({(unsigned)rows, (unsigned)((n / 2 + 255) / 256), 1}, {256, 1, 1},
           [&] { bias_act_f32(x.data(), b.data(), y.data(), n, act); });
    for (int i = 0; i < rows * n; i++) {
      double v = x[i] + b[i % n];
      double want = act == 0   ? 0.5 * v * (1 + erf(v / sqrt(2.0)))
                    : act == 1 ? 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))
                               : std::max(v, 0.0);
      check("bias_act", y[i], want, 1e-5);
    }
  }
}

template <typename T> static T to_t(float x);
template <> float to_t<float>(float x) { return x; }
template <> __half to_t<__half>(float x) { return __float2half(x); }
template <> __nv_bfloat16 to_t<__nv_bfloat16>(float x) { return __float2bfloat16(x); }

// An attention kernel pair (head size 32 and 64) against the definition, on texts of `lens`
// tokens, with q, k, v as three matrices and as column blocks of one matrix (rows 3·hd apart),
// on inputs already in T. The reference rounds the scaled queries to T as the kernels do (a no-op
// in f32); what is left is the kernels' own rounding (the probabilities, in the tensor-core one).
template <typename T, typename K32, typename K64>
static void check_attention(const char* name, std::vector<int> lens, int heads, unsigned threads, K32 k32,
                            K64 k64, float tol) {
  auto f = [](T x) { return (double)nvcuda::wmma::emu_value(x); };
  for (int d : {32, 64}) {
    for (int blocks = 0; blocks < 2; blocks++) {
      std::vector<uint32_t> cu = {0};
      for (int len : lens) cu.push_back(cu.back() + len);
      int hd = heads * d, w = 3 * hd, B = (int)lens.size(), T_ = (int)cu.back();
      int max_len = *std::max_element(lens.begin(), lens.end());
      float scale = 1 / sqrtf(d);
      std::vector<T> qkv(T_ * w), q(T_ * hd), k(T_ * hd), v(T_ * hd), bias(w), out(T_ * hd, to_t<T>(-999.f));
      for (auto& x : qkv) x = to_t<T>(rnd() * 2);
      for (auto& x : bias) x = to_t<T>(rnd());
      for (int t = 0; t < T_; t++)
        for (int c = 0; c < hd; c++) {
          q[t * hd + c] = qkv[t * w + c];
          k[t * hd + c] = qkv[t * w + hd + c];
          v[t * hd + c] = qkv[t * w + 2 * hd + c];
        }
      int ld = blocks ? w : hd;
      const T* qp = blocks ? qkv.data() : q.data();
      const T* kp = blocks ? qkv.data() + hd : k.data();
      const T* vp = blocks ? qkv.data() + 2 * hd : v.data();
      launch({(unsigned)((max_len + 63) / 64), (unsigned)heads, (unsigned)B}, {threads, 1, 1}, [&] {
        if (d == 32) k32(qp, kp, vp, bias.data(), cu.data(), out.data(), heads, scale, ld);
        else k64(qp, kp, vp, bias.data(), cu.data(), out.data(), heads, scale, ld);
      });
      for (int b = 0; b < B; b++)
        for (int h = 0; h < heads; h++)
          for (int i = cu[b]; i < (int)cu[b + 1]; i++) {
            std::vector<double> s;
            double mx = -1e300;
            for (int j = cu[b]; j < (int)cu[b + 1]; j++) {
              double dot = 0;
              for (int c = h * d; c < (h + 1) * d; c++) {
                double qs = f(to_t<T>((float)((f(qkv[i * w + c]) + f(bias[c])) * scale)));
                dot += qs * (f(qkv[j * w + hd + c]) + f(bias[hd + c]));
              }
              s.push_back(dot);
              mx = std::max(mx, dot);
            }
            double z = 0;
            for (auto& x : s) { x = exp(x - mx); z += x; }
            for (int c = h * d; c < (h + 1) * d; c++) {
              double o = 0;
              for (int j = cu[b]; j < (int)cu[b + 1]; j++) o += s[j - cu[b]] / z * (f(qkv[j * w + 2 * hd + c]) + f(bias[2 * hd + c]));
              check(name, f(out[i * hd + c]), o, tol);
            }
          }
    }
  }
}

static void test_attention() {
  // One thread a query (f32): texts of 5, 70 (two key tiles), 0 and 1 tokens.
  check_attention<float>("attention", {5, 70, 0, 1}, 3, 64, attention32_f32, attention64_f32, 1e-4);
  // Tensor cores (attention_tc.cuh), four warps a block: also 130 tokens (three query blocks)
  // and 16; key tiles of 32.
  check_attention<__half>("attention_tc f16", {5, 70, 0, 1, 130, 16}, 2, 128, attention_tc32_f16,
                          attention_tc64_f16, 5e-3);
  check_attention<__nv_bfloat16>("attention_tc bf16", {5, 70, 0, 1, 130, 16}, 2, 128, attention_tc32_bf16,
                                 attention_tc64_bf16, 5e-3);
}

static void test_pool() {
  int n = 384, T = 10, B = 3;
  std::vector<uint32_t> cu = {0, 3, 3, 10};  // the middle text is empty: a zero vector
  std::vector<__nv_bfloat16> x(T * n);
  for (auto& v : x) v = __float2bfloat16(rnd());
  std::vector<float> out(B * n);
  for (int norm = 0; norm < 2; norm++)
    for (int mode = 0; mode < 4; mode++) {
      launch({(unsigned)B, 1, 1}, {128, 1, 1}, [&] { pool_bf16(x.data(), cu.data(), out.data(), n, mode, norm); });
      for (int b = 0; b < B; b++) {
        int s = cu[b], len = cu[b + 1] - s;
        std::vector<double> want(n, 0.0);
        double sq = 0;
        for (int c = 0; c < n; c++) {
          if (len > 0) {
            if (mode == 1) want[c] = x[s * n + c].f;
            else if (mode == 2) { want[c] = -1e300; for (int t = 0; t < len; t++) want[c] = std::max(want[c], (double)x[(s + t) * n + c].f); }
            else { double sum = 0; for (int t = 0; t < len; t++) sum += x[(s + t) * n + c].f; want[c] = mode == 3 ? sum / sqrt(len) : sum / len; }
          }
          sq += want[c] * want[c];
        }
        double k = norm ? 1.0 / std::max(sqrt(sq), 1e-12) : 1.0;
        for (int c = 0; c < n; c++) check("pool", out[b * n + c], want[c] * k, 1e-5);
      }
    }
}

int main() {
  test_add_layer_norm();
  test_embed_layer_norm();
  test_bias_act();
  test_attention();
  test_pool();
  printf("fails: %d\n", fails);
  return fails != 0;
}
