// Chapter 04, "Experiment 1": the Taylor-mode recurrence of tanh as one fused CPU kernel, for
// MindSpore's ops.Custom(func_type="aot"). Element by element, from the pre-activation jet
// a_0..a_K (a_0 without the bias b) it computes y = tanh(a + b) with
//   y_k = -(1/k) sum_(j=1..k) j a_j u_(k-j),   u = y^2 - 1 (a Cauchy square),
// the recurrence of kit/science/taylor.py's tanh_weighted, in float64. Elements are processed
// in blocks of 64 so that the innermost loop vectorises; no -ffast-math: the sums keep their
// order and the result matches the stock-op version to rounding.
#include <cmath>
#include <cstdint>

namespace {

constexpr int kBlock = 64;
constexpr int kMaxCoefficients = 13;  // order <= 12 (kit.science.taylor.MAX_ORDER)

void tanh_jet(const double* a, const double* bias, double* y, int64_t coefficients,
              int64_t rows, int64_t width) {
  const int64_t m = rows * width;
  alignas(64) double ja[kMaxCoefficients][kBlock];
  alignas(64) double u[kMaxCoefficients][kBlock];
  alignas(64) double yy[kMaxCoefficients][kBlock];
  for (int64_t e0 = 0; e0 < m; e0 += kBlock) {
    const int nb = static_cast<int>(m - e0 < kBlock ? m - e0 : kBlock);
    for (int64_t j = 1; j < coefficients; ++j)
      for (int e = 0; e < nb; ++e) ja[j][e] = static_cast<double>(j) * a[j * m + e0 + e];
    for (int e = 0; e < nb; ++e) {
      yy[0][e] = std::tanh(a[e0 + e] + bias[(e0 + e) % width]);
      u[0][e] = yy[0][e] * yy[0][e] - 1.0;
    }
    for (int64_t k = 1; k < coefficients; ++k) {
      const double divisor = -static_cast<double>(k);
#pragma omp simd
      for (int e = 0; e < nb; ++e) {
        double s = 0.0;
        for (int64_t j = 1; j <= k; ++j) s += ja[j][e] * u[k - j][e];
        yy[k][e] = s / divisor;
      }
#pragma omp simd
      for (int e = 0; e < nb; ++e) {
        double q = 0.0;
        for (int64_t j = 0; j <= k; ++j) q += yy[j][e] * yy[k - j][e];
        u[k][e] = q;
      }
    }
    for (int64_t k = 0; k < coefficients; ++k)
      for (int e = 0; e < nb; ++e) y[k * m + e0 + e] = yy[k][e];
  }
}

}  // namespace

extern "C" {

// MindSpore AOT entry point: params = a (K+1, rows, width) float64, bias (width) float64, then
// the output y (K+1, rows, width). Returns 0, or 1 for a wrong parameter count or order.
int TanhJetAot(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
               void* stream, void* extra) {
  if (nparam != 3 || ndims[0] != 3 || shapes[0][0] > kMaxCoefficients) return 1;
  tanh_jet(static_cast<const double*>(params[0]), static_cast<const double*>(params[1]),
           static_cast<double*>(params[2]), shapes[0][0], shapes[0][1], shapes[0][2]);
  return 0;
}

}  // extern "C"
