#pragma once
namespace qm {
const char* version();
}
