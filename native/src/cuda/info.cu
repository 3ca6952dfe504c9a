// Device queries. cudart is linked statically, so on a machine without a driver these report
// no device instead of failing to load.
#include "core/gpu.h"
#include "cuda/common.cuh"

namespace qm {
namespace gpu {

bool compiled() { return true; }

int deviceCount() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

std::string deviceName() {
  if (deviceCount() == 0) return "";
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "";
  return prop.name;
}

void requireDevice() {
  if (deviceCount() == 0) fail("CUDA_UNAVAILABLE", "device", "no CUDA GPU is usable on this machine (no driver or no device)");
  QM_CUDA(cudaSetDevice(0));
}

}  // namespace gpu
}  // namespace qm
