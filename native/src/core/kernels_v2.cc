#include <cstddef>
#include <cstring>

#include "core/kernels.h"

namespace qm {
namespace v2 {
#define QM_ISA_NAME "sse4.2"
#include "core/kernels_impl.h"
}  // namespace v2
}  // namespace qm
