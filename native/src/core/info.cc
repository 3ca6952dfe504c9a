#include "core/info.h"

namespace qm {
const char* version() { return "0.1.0"; }
}  // namespace qm
