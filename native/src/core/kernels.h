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
  /** B already packed by Kernels::packB for exactly (k, n): b and ldb are then not read. */
  const float* bPacked = nullptr;
  /** B is stored transposed: B(k, j) = b[j*ldb + k]. */
  bool bTransposed = false;
};

/**
 * Floats that Kernels::packB writes for a k × n matrix: strips of 16 columns, each k rows of 16
 * contiguous floats; a last strip of 1-8 columns is 8 wide, of 9-15 columns 16 wide (zero padded).
 */
size_t packedBSize(size_t k, size_t n);

/** Where B(p, j) of a k × n matrix lies in Kernels::packB's layout. */
inline size_t packedBIndex(size_t k, size_t n, size_t p, size_t j) {
  const size_t j0 = j / 16 * 16, width = n - j0 > 8 ? 16 : 8;
  return j0 * k + p * width + (j - j0);
}

struct Kernels {
  const char* name;
  /** out[j] = scale * sum_i w[i] * xs[i][j] for j in [0, n), summed in float64. */
  void (*weightedSum)(const float* const* xs, const double* w, size_t k, size_t n, double scale, float* out);
  /** acc[j] += w * x[j] in float64. */
  void (*accumulate)(double* acc, const float* x, double w, size_t n);
  void (*gemm)(const GemmArgs& g);
  /** Packs B (k × n, row stride ldb) into the layout gemm streams (packedBSize(k, n) floats). */
  void (*packB)(size_t k, size_t n, const float* b, size_t ldb, float* out);
};

const Kernels& kernels();

namespace v2 { extern const Kernels table; }
namespace v3 { extern const Kernels table; }

}  // namespace qm
