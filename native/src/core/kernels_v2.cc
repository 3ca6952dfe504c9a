#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <immintrin.h>
#include <vector>

#include "core/kernels.h"

namespace qm {
namespace v2 {
#define QM_ISA_NAME "sse4.2"
#define QM_STREAM8(p, v) (_mm_stream_ps((p), __m128{(v)[0], (v)[1], (v)[2], (v)[3]}), _mm_stream_ps((p) + 4, __m128{(v)[4], (v)[5], (v)[6], (v)[7]}))
#include "core/kernels_impl.h"
}  // namespace v2
}  // namespace qm
