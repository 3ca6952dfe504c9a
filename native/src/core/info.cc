#include "core/info.h"

#include "core/kernels.h"

namespace qm {
const char* version() { return "0.1.0"; }
const char* simd() { return kernels().name; }
}  // namespace qm
