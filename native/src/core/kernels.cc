#include "core/kernels.h"

#include <cstdlib>
#include <cstring>

namespace qm {

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
