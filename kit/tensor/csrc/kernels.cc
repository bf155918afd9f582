// Chapter 07 "Operator level": the kit's own CPU kernels, loaded by MindSpore as
// ops.Custom(func_type="aot") operators and, for schedule search, through ctypes.
//
// Every kernel takes its schedule at run time (an int64 tensor), so one compiled library serves
// the whole search space: tile sizes and loop order are loop bounds, the vector width selects one
// of the template instantiations (GCC vector extensions: 1 = scalar, 4 = SSE, 8 = AVX2,
// 16 = AVX-512 lanes) and the thread count goes to OpenMP.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <omp.h>

namespace {

template <int W>
struct Vec {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
  static inline type load(const float* p) { type v; std::memcpy(&v, p, sizeof(v)); return v; }
  static inline void store(float* p, type v) { std::memcpy(p, &v, sizeof(v)); }
  static inline type splat(float x) { return type{} + x; }
};

template <>
struct Vec<1> {
  typedef float type;
  static inline type load(const float* p) { return *p; }
  static inline void store(float* p, type v) { *p = v; }
  static inline type splat(float x) { return x; }
};

// C[i0:i0+tm, j0:j0+tn] += A[i0:i0+tm, k0:k0+tk] @ B[k0:k0+tk, j0:j0+tn], i-k-j inner order.
template <int W>
inline void tile(const float* A, const float* B, float* C, int64_t K, int64_t N, int64_t i0,
                 int64_t j0, int64_t k0, int64_t tm, int64_t tn, int64_t tk) {
  typedef Vec<W> V;
  for (int64_t i = i0; i < i0 + tm; ++i) {
    float* c = C + i * N;
    for (int64_t k = k0; k < k0 + tk; ++k) {
      const typename V::type a = V::splat(A[i * K + k]);
      const float* b = B + k * N;
#pragma GCC unroll 4
      for (int64_t j = j0; j < j0 + tn; j += W) V::store(c + j, V::load(c + j) + a * V::load(b + j));
    }
  }
}

// GELU (tanh form) as y * sigmoid(2u), since 0.5 * (1 + tanh(u)) = sigmoid(2u): one exp per
// element, vectorisable by the compiler (glibc libmvec), and no cancellation for large negative
// y. The argument is bounded to |u| <= 15, where tanh is +-1 to float precision, so exp cannot
// overflow (-ffast-math assumes it never does).
inline float gelu(float y) {
  float u = 0.7978845608028654f * (y + 0.044715f * y * y * y);
  u = std::fmin(std::fmax(u, -15.0f), 15.0f);
  return y / (1.0f + std::exp(-2.0f * u));
}

// The fused epilogue: C[i0:i1, j0:j1] = gelu(C + bias) while the tile is still in cache.
inline void bias_gelu_tile(float* C, const float* bias, int64_t N, int64_t i0, int64_t i1,
                           int64_t j0, int64_t j1) {
  for (int64_t i = i0; i < i1; ++i) {
    float* c = C + i * N;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) c[j] = gelu(c[j] + bias[j]);
  }
}

// order 0: (i-tile, j-tile, k-tile); 1: (j-tile, i-tile, k-tile); 2: (i-tile, k-tile, j-tile).
// The outermost tile loop is split across threads; each thread owns whole rows (or columns) of C.
// With a bias, the epilogue gelu(C + bias) runs on each tile as soon as it is complete.
template <int W>
void matmul(const float* A, const float* B, const float* bias, float* C, int64_t M, int64_t N,
            int64_t K, int64_t tm, int64_t tn, int64_t tk, int64_t order, int64_t threads) {
  std::memset(C, 0, sizeof(float) * M * N);
  if (order == 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t j0 = 0; j0 < N; j0 += tn)
      for (int64_t i0 = 0; i0 < M; i0 += tm) {
        for (int64_t k0 = 0; k0 < K; k0 += tk) tile<W>(A, B, C, K, N, i0, j0, k0, tm, tn, tk);
        if (bias) bias_gelu_tile(C, bias, N, i0, i0 + tm, j0, j0 + tn);
      }
  } else if (order == 2) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i0 = 0; i0 < M; i0 += tm) {
      for (int64_t k0 = 0; k0 < K; k0 += tk)
        for (int64_t j0 = 0; j0 < N; j0 += tn) tile<W>(A, B, C, K, N, i0, j0, k0, tm, tn, tk);
      if (bias) bias_gelu_tile(C, bias, N, i0, i0 + tm, 0, N);
    }
  } else {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i0 = 0; i0 < M; i0 += tm)
      for (int64_t j0 = 0; j0 < N; j0 += tn) {
        for (int64_t k0 = 0; k0 < K; k0 += tk) tile<W>(A, B, C, K, N, i0, j0, k0, tm, tn, tk);
        if (bias) bias_gelu_tile(C, bias, N, i0, i0 + tm, j0, j0 + tn);
      }
  }
}

// The unfused alternative: Y = gelu(X + bias) as its own pass over memory.
void bias_gelu(const float* X, const float* bias, float* Y, int64_t rows, int64_t width,
               int64_t threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = X + r * width;
    float* y = Y + r * width;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) y[j] = gelu(x[j] + bias[j]);
  }
}

// One pass per row (the row stays in L1): mean and variance, then normalise, scale, shift and
// GELU on the way out. Rows are handed to threads in chunks of `chunk` rows.
template <int W>
void layernorm_gelu(const float* X, const float* w, const float* b, float* Y, int64_t rows,
                    int64_t width, int64_t chunk, int64_t threads) {
  typedef Vec<W> V;
#pragma omp parallel for num_threads(threads) schedule(dynamic, chunk)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = X + r * width;
    float* y = Y + r * width;
    typename V::type s = V::splat(0.0f), s2 = V::splat(0.0f);
    for (int64_t j = 0; j < width; j += W) {
      const typename V::type v = V::load(x + j);
      s += v;
      s2 += v * v;
    }
    float sum = 0.0f, sum2 = 0.0f;
    for (int i = 0; i < W; ++i) {
      sum += reinterpret_cast<float*>(&s)[i];
      sum2 += reinterpret_cast<float*>(&s2)[i];
    }
    const float mean = sum / width;
    const float var = sum2 / width - mean * mean;
    const float inv = 1.0f / std::sqrt(var + 1e-5f);
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) y[j] = gelu((x[j] - mean) * inv * w[j] + b[j]);
  }
}

template <typename F>
int by_width(int64_t vec, F f) {
  switch (vec) {
    case 1: f.template operator()<1>(); return 0;
    case 4: f.template operator()<4>(); return 0;
    case 8: f.template operator()<8>(); return 0;
    case 16: f.template operator()<16>(); return 0;
    default: return 2;
  }
}

}  // namespace

extern "C" {

// Plain entry points (ctypes, used by the schedule search). Return 0, or 2 for a bad width.
// schedule s = tm, tn, tk, order, vec, threads; bias == nullptr: plain matmul.
int kit_matmul(const float* A, const float* B, const float* bias, float* C, int64_t M, int64_t N,
               int64_t K, const int64_t* s) {
  return by_width(s[4], [&]<int W>() {
    matmul<W>(A, B, bias, C, M, N, K, s[0], s[1], s[2], s[3], s[5]);
  });
}

int kit_bias_gelu(const float* X, const float* bias, float* Y, int64_t rows, int64_t width,
                  int64_t threads) {
  bias_gelu(X, bias, Y, rows, width, threads);
  return 0;
}

int kit_layernorm_gelu(const float* X, const float* w, const float* b, float* Y, int64_t rows,
                       int64_t width, const int64_t* s) {
  return by_width(s[0], [&]<int W>() { layernorm_gelu<W>(X, w, b, Y, rows, width, s[1], s[2]); });
}

// MindSpore AOT entry points: params = inputs then outputs; shapes per param.
// matmul inputs: A (M, K), B (K, N), schedule int64[6] = tm, tn, tk, order, vec, threads.
int MatmulAot(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
              void* stream, void* extra) {
  if (nparam != 4) return 1;
  const int64_t M = shapes[0][0], K = shapes[0][1], N = shapes[1][1];
  return kit_matmul(static_cast<float*>(params[0]), static_cast<float*>(params[1]), nullptr,
                    static_cast<float*>(params[3]), M, N, K, static_cast<int64_t*>(params[2]));
}

// matmul_bias_gelu inputs: A (M, K), B (K, N), bias (N), schedule int64[6]; gelu(A @ B + bias).
int MatmulBiasGeluAot(int nparam, void** params, int* ndims, int64_t** shapes,
                      const char** dtypes, void* stream, void* extra) {
  if (nparam != 5) return 1;
  const int64_t M = shapes[0][0], K = shapes[0][1], N = shapes[1][1];
  return kit_matmul(static_cast<float*>(params[0]), static_cast<float*>(params[1]),
                    static_cast<float*>(params[2]), static_cast<float*>(params[4]), M, N, K,
                    static_cast<int64_t*>(params[3]));
}

// layernorm_gelu inputs: x (rows, width), w (width), b (width), schedule int64[3] =
// vec, chunk, threads.
int LayerNormGeluAot(int nparam, void** params, int* ndims, int64_t** shapes, const char** dtypes,
                     void* stream, void* extra) {
  if (nparam != 5) return 1;
  return kit_layernorm_gelu(static_cast<float*>(params[0]), static_cast<float*>(params[1]),
                            static_cast<float*>(params[2]), static_cast<float*>(params[4]),
                            shapes[0][0], shapes[0][1], static_cast<int64_t*>(params[3]));
}

}  // extern "C"
