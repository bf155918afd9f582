// Chapter 04, "Experiment 1" and "Experiment 4": the Taylor-mode recurrence of tanh as fused CPU
// kernels for MindSpore's ops.Custom(func_type="aot"), forward and backward. Element by
// element, from the pre-activation jet a_0..a_K (a_0 without the bias b) the forward computes
// y = tanh(a + b) with
//   y_k = -(1/k) sum_(j=1..k) j a_j u_(k-j),   u = y^2 - 1 (a Cauchy square),
// the recurrence of kit/science/taylor.py's tanh_weighted. The backward is that recurrence's
// adjoint (reverse mode through it, k = K..1), so a loss built on the jet can be trained.
// float32 and float64; elements are processed in blocks of 64 so that the innermost loops
// vectorise; no -ffast-math: the sums keep their order and the forward matches the stock-op
// version to rounding.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

constexpr int kBlock = 64;
constexpr int kMaxCoefficients = 13;  // order <= 12 (kit.science.taylor.MAX_ORDER)

// The forward recurrence for one block of nb elements starting at e0; fills yy and u.
template <typename T>
void block_forward(const T* a, const T* bias, int64_t e0, int nb, int64_t coefficients,
                   int64_t m, int64_t width, T (*ja)[kBlock], T (*u)[kBlock],
                   T (*yy)[kBlock]) {
  for (int64_t j = 1; j < coefficients; ++j)
    for (int e = 0; e < nb; ++e) ja[j][e] = static_cast<T>(j) * a[j * m + e0 + e];
  for (int e = 0; e < nb; ++e) {
    yy[0][e] = std::tanh(a[e0 + e] + bias[(e0 + e) % width]);
    u[0][e] = yy[0][e] * yy[0][e] - T(1);
  }
  for (int64_t k = 1; k < coefficients; ++k) {
    const T divisor = -static_cast<T>(k);
#pragma omp simd
    for (int e = 0; e < nb; ++e) {
      T s = 0;
      for (int64_t j = 1; j <= k; ++j) s += ja[j][e] * u[k - j][e];
      yy[k][e] = s / divisor;
    }
#pragma omp simd
    for (int e = 0; e < nb; ++e) {
      T q = 0;
      for (int64_t j = 0; j <= k; ++j) q += yy[j][e] * yy[k - j][e];
      u[k][e] = q;
    }
  }
}

template <typename T>
void tanh_jet(const T* a, const T* bias, T* y, int64_t coefficients, int64_t rows,
              int64_t width) {
  const int64_t m = rows * width;
  alignas(64) T ja[kMaxCoefficients][kBlock];
  alignas(64) T u[kMaxCoefficients][kBlock];
  alignas(64) T yy[kMaxCoefficients][kBlock];
  for (int64_t e0 = 0; e0 < m; e0 += kBlock) {
    const int nb = static_cast<int>(m - e0 < kBlock ? m - e0 : kBlock);
    block_forward(a, bias, e0, nb, coefficients, m, width, ja, u, yy);
    for (int64_t k = 0; k < coefficients; ++k)
      std::memcpy(y + k * m + e0, yy[k], sizeof(T) * nb);
  }
}

// Reverse mode through the recurrence: from dL/dy (gy) to dL/da (ga), recomputing the forward
// block by block. For k = K..1: y_k's gradient is complete, so it flows to j a_j and u_(k-j);
// then u_(k-1)'s gradient is complete (only y_k.. used it) and flows to y_0..y_(k-1) through
// u_(k-1) = sum_i y_i y_(k-1-i). Finally y_0 = tanh(a_0 + b) gives ga_0 = gy_0 (1 - y_0^2).
template <typename T>
void tanh_jet_backward(const T* a, const T* bias, const T* gy, T* ga, int64_t coefficients,
                       int64_t rows, int64_t width) {
  const int64_t m = rows * width;
  alignas(64) T ja[kMaxCoefficients][kBlock];
  alignas(64) T u[kMaxCoefficients][kBlock];
  alignas(64) T yy[kMaxCoefficients][kBlock];
  alignas(64) T g[kMaxCoefficients][kBlock];    // dL/dy_k, accumulated
  alignas(64) T gu[kMaxCoefficients][kBlock];   // dL/du_k, accumulated
  alignas(64) T gja[kMaxCoefficients][kBlock];  // dL/d(j a_j), accumulated
  for (int64_t e0 = 0; e0 < m; e0 += kBlock) {
    const int nb = static_cast<int>(m - e0 < kBlock ? m - e0 : kBlock);
    block_forward(a, bias, e0, nb, coefficients, m, width, ja, u, yy);
    for (int64_t k = 0; k < coefficients; ++k) {
      std::memcpy(g[k], gy + k * m + e0, sizeof(T) * nb);
      for (int e = 0; e < nb; ++e) gu[k][e] = gja[k][e] = T(0);
    }
    for (int64_t k = coefficients - 1; k >= 1; --k) {
      const T divisor = -static_cast<T>(k);
      for (int64_t j = 1; j <= k; ++j) {
#pragma omp simd
        for (int e = 0; e < nb; ++e) {
          const T s = g[k][e] / divisor;
          gja[j][e] += s * u[k - j][e];
          gu[k - j][e] += s * ja[j][e];
        }
      }
      const int64_t q = k - 1;
      for (int64_t i = 0; i <= q; ++i) {
#pragma omp simd
        for (int e = 0; e < nb; ++e) g[i][e] += T(2) * gu[q][e] * yy[q - i][e];
      }
    }
    for (int e = 0; e < nb; ++e) ga[e0 + e] = g[0][e] * (T(1) - yy[0][e] * yy[0][e]);
    for (int64_t j = 1; j < coefficients; ++j)
      for (int e = 0; e < nb; ++e) ga[j * m + e0 + e] = static_cast<T>(j) * gja[j][e];
  }
}

bool is(const char* dtype, const char* name) { return std::strcmp(dtype, name) == 0; }

// The shapes and dtypes every entry point needs: params 0.. are a (K+1, rows, width) with
// 1 <= K+1 <= kMaxCoefficients and width >= 1, bias (width), then `same_as_a` more tensors of
// a's shape; all of one dtype.
bool valid(int nparam, int expected, int* ndims, int64_t** shapes, const char** dtypes) {
  if (nparam != expected || ndims[0] != 3 || ndims[1] != 1) return false;
  const int64_t c = shapes[0][0], rows = shapes[0][1], width = shapes[0][2];
  if (c < 1 || c > kMaxCoefficients || rows < 0 || width < 1 || shapes[1][0] != width)
    return false;
  for (int i = 2; i < nparam; ++i) {
    if (ndims[i] != 3) return false;
    for (int d = 0; d < 3; ++d)
      if (shapes[i][d] != shapes[0][d]) return false;
  }
  for (int i = 1; i < nparam; ++i)
    if (!is(dtypes[i], dtypes[0])) return false;
  return true;
}

}  // namespace

extern "C" {

// MindSpore AOT entry point: params = a (K+1, rows, width), bias (width), then the output
// y (K+1, rows, width), all float32 or all float64. Returns 0, or 1 for a wrong parameter
// count, shape, order or dtype.
int TanhJetAot(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
               void* stream, void* extra) {
  if (!valid(nparam, 3, ndims, shapes, dtypes)) return 1;
  const int64_t c = shapes[0][0], rows = shapes[0][1], width = shapes[0][2];
  if (is(dtypes[0], "float64")) {
    tanh_jet(static_cast<const double*>(params[0]), static_cast<const double*>(params[1]),
             static_cast<double*>(params[2]), c, rows, width);
  } else if (is(dtypes[0], "float32")) {
    tanh_jet(static_cast<const float*>(params[0]), static_cast<const float*>(params[1]),
             static_cast<float*>(params[2]), c, rows, width);
  } else {
    return 1;
  }
  return 0;
}

// The backward: params = a, bias, dL/dy (each as in TanhJetAot), then the output dL/da.
// Returns 0, or 1 as TanhJetAot.
int TanhJetBackwardAot(int nparam, void** params, int* ndims, int64_t** shapes,
                       const char** dtypes, void* stream, void* extra) {
  if (!valid(nparam, 4, ndims, shapes, dtypes)) return 1;
  const int64_t c = shapes[0][0], rows = shapes[0][1], width = shapes[0][2];
  if (is(dtypes[0], "float64")) {
    tanh_jet_backward(static_cast<const double*>(params[0]),
                      static_cast<const double*>(params[1]),
                      static_cast<const double*>(params[2]), static_cast<double*>(params[3]),
                      c, rows, width);
  } else if (is(dtypes[0], "float32")) {
    tanh_jet_backward(static_cast<const float*>(params[0]), static_cast<const float*>(params[1]),
                      static_cast<const float*>(params[2]), static_cast<float*>(params[3]),
                      c, rows, width);
  } else {
    return 1;
  }
  return 0;
}

}  // extern "C"
