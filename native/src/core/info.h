#pragma once
#include <string>

namespace qm {
const char* version();
/** The instruction set the hot loops were dispatched to ("avx2+fma" or "sse4.2"). */
const char* simd();
}  // namespace qm
