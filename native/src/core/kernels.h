#pragma once
// Hot loops, compiled twice (x86-64-v2 baseline and x86-64-v3 with AVX2+FMA) and picked at
// load time from what the processor supports, so one binary runs fast everywhere it runs.
#include <cstddef>

namespace qm {

/** C[M×N] (+)= A·B with A(i,k) = a[i*sai + k*sak] and B(k,j) = b[k*ldb + j]. */
struct GemmArgs {
  size_t m, n, k;
  const float* a;
  size_t sai, sak;
  const float* b;
  size_t ldb;
  float* c;
  size_t ldc;
  bool accumulate;
};

struct Kernels {
  const char* name;
  /** out[j] = scale * sum_i w[i] * xs[i][j] for j in [0, n), summed in float64. */
  void (*weightedSum)(const float* const* xs, const double* w, size_t k, size_t n, double scale, float* out);
  /** acc[j] += w * x[j] in float64. */
  void (*accumulate)(double* acc, const float* x, double w, size_t n);
  void (*gemm)(const GemmArgs& g);
};

const Kernels& kernels();

namespace v2 { extern const Kernels table; }
namespace v3 { extern const Kernels table; }

}  // namespace qm
