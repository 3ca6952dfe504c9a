#include "core/kernels.h"

#include <cstdlib>
#include <cstring>

namespace qm {

size_t packedBSize(size_t k, size_t n) {
  // Strips of 16 columns; a last strip of 1-8 columns is 8 wide, of 9-15 is 16 wide.
  const size_t full = n / 16 * 16, rest = n - full;
  return k * (full + (rest == 0 ? 0 : rest > 8 ? 16 : 8));
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    const char* force = std::getenv("QUACKMESH_SIMD");
    bool wantBaseline = force && std::strcmp(force, "sse4.2") == 0;
    __builtin_cpu_init();
    if (!wantBaseline && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &v3::table;
    return &v2::table;
  }();
  return *chosen;
}

}  // namespace qm
