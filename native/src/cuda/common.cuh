#pragma once
// Shared helpers of the CUDA sources: error checks that throw the core's NumericError, a device
// buffer that frees itself, and the stream a call works on.
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

#define QM_CUDA(call)                                                                                   \
  do {                                                                                                  \
    cudaError_t qm_err_ = (call);                                                                       \
    if (qm_err_ != cudaSuccess) ::qm::gpu::cudaFail(qm_err_, #call, __FILE__, __LINE__);               \
  } while (0)

// After a launch: catches bad configurations at once (the kernel's own faults show at the next sync).
#define QM_LAUNCHED() QM_CUDA(cudaGetLastError())

namespace qm {
namespace gpu {

[[noreturn]] inline void cudaFail(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky launch error so later calls can proceed
  std::string where = std::string(file);
  where = where.substr(where.find_last_of('/') + 1);
  fail(err == cudaErrorMemoryAllocation ? "OUT_OF_MEMORY" : "CUDA_ERROR", "device",
       std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + what + " at " + where + ":" + std::to_string(line) + ")");
}

/** Throws CUDA_UNAVAILABLE unless a device can be used; selects device 0. */
void requireDevice();

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n) QM_CUDA(cudaMalloc(&p_, checkedMul(n, sizeof(T), "OUT_OF_MEMORY", "device", "a device buffer's size in bytes")));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      if (p_) cudaFree(p_);
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

class Stream {
 public:
  Stream() { QM_CUDA(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  operator cudaStream_t() const { return s_; }
  void sync() { QM_CUDA(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_;
};

inline unsigned blocksFor(size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

}  // namespace gpu
}  // namespace qm
