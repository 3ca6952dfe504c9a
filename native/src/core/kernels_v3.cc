// The AVX2+FMA copy of the kernels. Standard headers come first so that only our own functions
// get the wider target; the dispatcher in kernels.cc calls them only where the CPU has AVX2.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <vector>

#include "core/kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace qm {
namespace v3 {
#define QM_ISA_NAME "avx2+fma"
#define QM_STREAM8(p, v) _mm256_stream_ps((p), reinterpret_cast<__m256>(v))
#include "core/kernels_impl.h"
}  // namespace v3
}  // namespace qm
#pragma GCC pop_options
