// FedAvg, median and trimmed mean on the GPU. FedAvg is one pass that reads the K inputs with
// 16-byte loads (all K in flight before the sums) and streams the result out: memory-bound by
// design. Sums are in float64, as on the CPU, so both agree to float32 rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/aggregate.h"
#include "core/gpu.h"
#include "cuda/common.cuh"

namespace qm {
namespace gpu {
namespace {

constexpr int kMaxInputs = 64;

struct InputSet {
  const float* x[kMaxInputs];
  double w[kMaxInputs];
  int k;
};

// K known at compile time: all K loads are issued before the first sum uses them.
template <int K>
__global__ void fedAvgKernel(const __grid_constant__ InputSet in, size_t n4, double scale, float4* __restrict__ out) {
  size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n4) return;
  const int k = K > 0 ? K : in.k;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  constexpr int kBatch = K > 0 ? K : 8;  // runtime K: loads in groups of 8
  for (int k0 = 0; k0 < k; k0 += kBatch) {
    float4 v[kBatch];
#pragma unroll
    for (int q = 0; q < kBatch; q++)
      if (K > 0 || k0 + q < k) v[q] = __ldcs(reinterpret_cast<const float4*>(in.x[k0 + q]) + i);
#pragma unroll
    for (int q = 0; q < kBatch; q++) {
      if (K == 0 && k0 + q >= k) break;
      double w = in.w[k0 + q];
      s0 = fma(w, static_cast<double>(v[q].x), s0);
      s1 = fma(w, static_cast<double>(v[q].y), s1);
      s2 = fma(w, static_cast<double>(v[q].z), s2);
      s3 = fma(w, static_cast<double>(v[q].w), s3);
    }
  }
  __stcs(out + i, make_float4(static_cast<float>(s0 * scale), static_cast<float>(s1 * scale), static_cast<float>(s2 * scale), static_cast<float>(s3 * scale)));
}

// The last n % 4 values.
__global__ void fedAvgTail(const __grid_constant__ InputSet in, size_t from, size_t n, double scale, float* out) {
  size_t j = from + threadIdx.x;
  if (j >= n) return;
  double s = 0;
  for (int k = 0; k < in.k; k++) s = fma(in.w[k], static_cast<double>(in.x[k][j]), s);
  out[j] = static_cast<float>(s * scale);
}

template <int K>
void launchK(const InputSet& in, size_t n4, double scale, float* out, cudaStream_t stream) {
  fedAvgKernel<K><<<blocksFor(n4, 256), 256, 0, stream>>>(in, n4, scale, reinterpret_cast<float4*>(out));
}

template <int K>
bool launchUpTo(int k, const InputSet& in, size_t n4, double scale, float* out, cudaStream_t stream) {
  if constexpr (K == 0) {
    return false;
  } else {
    if (k == K) {
      launchK<K>(in, n4, scale, out, stream);
      return true;
    }
    return launchUpTo<K - 1>(k, in, n4, scale, out, stream);
  }
}

void launchFedAvg(const InputSet& in, size_t n, double scale, float* out, cudaStream_t stream) {
  size_t n4 = n / 4;
  if (n4 && !launchUpTo<16>(in.k, in, n4, scale, out, stream)) launchK<0>(in, n4, scale, out, stream);
  if (n % 4) fedAvgTail<<<1, 4, 0, stream>>>(in, n4 * 4, n, scale, out);
  QM_LAUNCHED();
}

__global__ void accumulateKernel(double* __restrict__ sum, const float* __restrict__ x, double w, size_t n) {
  size_t j = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (j < n) sum[j] = fma(w, static_cast<double>(x[j]), sum[j]);
}

__global__ void scaleKernel(const double* __restrict__ sum, double scale, float* __restrict__ out, size_t n) {
  size_t j = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (j < n) out[j] = static_cast<float>(sum[j] * scale);
}

// One coordinate a thread: gather K values, insertion-sort them, keep the middle (trim from each end).
__global__ void sortedMeanKernel(const __grid_constant__ InputSet in, size_t n, int trim, bool median, float* __restrict__ out) {
  size_t j = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (j >= n) return;
  float v[kMaxInputs];
  int k = in.k;
  for (int i = 0; i < k; i++) {
    float x = in.x[i][j];
    int p = i;
    while (p > 0 && v[p - 1] > x) {
      v[p] = v[p - 1];
      p--;
    }
    v[p] = x;
  }
  if (median) {
    out[j] = (k & 1) ? v[k / 2] : static_cast<float>((static_cast<double>(v[k / 2 - 1]) + v[k / 2]) * 0.5);
    return;
  }
  double s = 0;
  for (int i = trim; i < k - trim; i++) s += v[i];
  out[j] = static_cast<float>(s / (k - 2 * trim));
}

// Values reproducible on host and device, for the resident benchmark's inputs and its check.
__host__ __device__ inline float benchValue(uint64_t j, uint32_t k) {
  uint64_t z = j * 0x9E3779B97F4A7C15ull + (k + 1) * 0xD1B54A32D192ED03ull;
  z ^= z >> 31;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 29;
  return static_cast<float>(z >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

__global__ void fillKernel(float* x, size_t n, uint32_t k) {
  size_t j = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (j < n) x[j] = benchValue(j, k);
}

// How many coordinates fit on the device at once with k inputs and one output (half the free memory).
size_t chunkFor(size_t k, size_t n) {
  size_t freeBytes = 0, total = 0;
  QM_CUDA(cudaMemGetInfo(&freeBytes, &total));
  size_t fit = (freeBytes / 2) / ((k + 1) * sizeof(float));
  fit = std::max<size_t>(fit / 4 * 4, 1 << 20);
  return std::min(n, fit);
}

// Uploads a range of the inputs (host memory) and runs `kernel(set, len, out)` per chunk.
template <class Kernel>
void overChunks(const std::vector<Span>& inputs, size_t n, float* out, Kernel kernel) {
  requireDevice();
  Stream stream;
  size_t k = inputs.size(), chunk = chunkFor(k, n);
  std::vector<DeviceBuffer<float>> bufs;
  for (size_t i = 0; i < k; i++) bufs.emplace_back(chunk);
  DeviceBuffer<float> result(chunk);
  for (size_t b = 0; b < n; b += chunk) {
    size_t len = std::min(chunk, n - b);
    InputSet set{};
    set.k = static_cast<int>(k);
    for (size_t i = 0; i < k; i++) {
      QM_CUDA(cudaMemcpyAsync(bufs[i].get(), inputs[i].data + b, len * sizeof(float), cudaMemcpyHostToDevice, stream));
      set.x[i] = bufs[i].get();
    }
    kernel(set, len, result.get(), stream);
    QM_CUDA(cudaMemcpyAsync(out + b, result.get(), len * sizeof(float), cudaMemcpyDeviceToHost, stream));
    stream.sync();
  }
}

}  // namespace

void fedAvg(const std::vector<Span>& inputs, const std::vector<double>& weights, float* out) {
  if (inputs.empty()) fail("EMPTY_INPUT", "inputs", "inputs is empty");
  double total = 0;
  for (double w : weights) total += w;
  if (weights.size() != inputs.size() || !(total > 0)) {
    qm::fedAvg(inputs, weights, out);  // the CPU version raises the precise error
    return;
  }
  if (inputs.size() > static_cast<size_t>(kMaxInputs)) {
    // Many inputs: stream them through a float64 running sum instead.
    auto acc = makeAccumulator(inputs[0].size);
    for (size_t i = 0; i < inputs.size(); i++) acc->add(inputs[i].data, weights[i]);
    acc->result(total, out);
    return;
  }
  overChunks(inputs, inputs[0].size, out, [&](InputSet& set, size_t len, float* dst, cudaStream_t s) {
    for (size_t i = 0; i < inputs.size(); i++) set.w[i] = weights[i];
    launchFedAvg(set, len, 1.0 / total, dst, s);
  });
}

static void sortedMean(const std::vector<Span>& inputs, int trim, bool isMedian, float* out) {
  if (inputs.size() > static_cast<size_t>(kMaxInputs)) {  // beyond the kernel's register budget: the CPU version
    isMedian ? qm::median(inputs, out) : qm::trimmedMean(inputs, static_cast<size_t>(trim), out);
    return;
  }
  overChunks(inputs, inputs[0].size, out, [&](InputSet& set, size_t len, float* dst, cudaStream_t s) {
    sortedMeanKernel<<<blocksFor(len, 256), 256, 0, s>>>(set, len, trim, isMedian, dst);
    QM_LAUNCHED();
  });
}

void median(const std::vector<Span>& inputs, float* out) {
  if (inputs.empty()) fail("EMPTY_INPUT", "inputs", "inputs is empty");
  sortedMean(inputs, 0, true, out);
}

void trimmedMean(const std::vector<Span>& inputs, size_t trim, float* out) {
  if (inputs.empty()) fail("EMPTY_INPUT", "inputs", "inputs is empty");
  if (2 * trim >= inputs.size()) fail("BAD_ARGUMENT", "beta", "beta trims every input: keep at least one value per coordinate");
  sortedMean(inputs, static_cast<int>(trim), false, out);
}

double fedAvgResidentMs(size_t k, size_t n, int runs, std::vector<float>* sample) {
  requireDevice();
  if (k == 0 || k > static_cast<size_t>(kMaxInputs)) fail("BAD_ARGUMENT", "k", "k must be between 1 and 64");
  Stream stream;
  std::vector<DeviceBuffer<float>> bufs;
  InputSet set{};
  set.k = static_cast<int>(k);
  double total = 0;
  for (size_t i = 0; i < k; i++) {
    bufs.emplace_back(n);
    fillKernel<<<blocksFor(n, 256), 256, 0, stream>>>(bufs[i].get(), n, static_cast<uint32_t>(i));
    QM_LAUNCHED();
    set.x[i] = bufs[i].get();
    set.w[i] = 100.0 + static_cast<double>(i);
    total += set.w[i];
  }
  DeviceBuffer<float> out(n);
  QM_CUDA(cudaMemsetAsync(out.get(), 0xff, n * sizeof(float), stream));  // NaN: every value must be written
  cudaEvent_t start, stop;
  QM_CUDA(cudaEventCreate(&start));
  QM_CUDA(cudaEventCreate(&stop));
  launchFedAvg(set, n, 1.0 / total, out.get(), stream);  // warm-up
  std::vector<double> times;
  for (int r = 0; r < std::max(1, runs); r++) {
    QM_CUDA(cudaEventRecord(start, stream));
    launchFedAvg(set, n, 1.0 / total, out.get(), stream);
    QM_CUDA(cudaEventRecord(stop, stream));
    QM_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    QM_CUDA(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  // Check a spread of coordinates (the tail included) against float64 on the host.
  std::vector<float> host(n);
  QM_CUDA(cudaMemcpy(host.data(), out.get(), n * sizeof(float), cudaMemcpyDeviceToHost));
  double errNum = 0, errDen = 0;
  for (size_t j = 0; j < n; j += std::max<size_t>(1, n / 100003)) {
    double ref = 0;
    for (size_t i = 0; i < k; i++) ref += set.w[i] * static_cast<double>(benchValue(j, static_cast<uint32_t>(i)));
    ref /= total;
    errNum += (host[j] - ref) * (host[j] - ref);
    errDen += ref * ref;
  }
  for (size_t j = 0; j < n; j++)
    if (host[j] != host[j]) fail("CUDA_ERROR", "device", "the FedAvg kernel left a value unwritten at " + std::to_string(j));
  double rel = std::sqrt(errNum / errDen);
  if (!(rel <= 1e-6)) fail("CUDA_ERROR", "device", "the FedAvg kernel's result is off: relative error " + std::to_string(rel));
  if (sample) *sample = {static_cast<float>(rel)};
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

namespace {

class CudaAccumulator : public Accumulator {
 public:
  explicit CudaAccumulator(size_t n) : n_(n) {
    sum_ = DeviceBuffer<double>(n);
    stage_ = DeviceBuffer<float>(n);
    QM_CUDA(cudaMemset(sum_.get(), 0, n * sizeof(double)));
  }
  void add(const float* x, double weight) override {
    std::lock_guard<std::mutex> lock(mutex_);
    QM_CUDA(cudaMemcpyAsync(stage_.get(), x, n_ * sizeof(float), cudaMemcpyHostToDevice, stream_));
    accumulateKernel<<<blocksFor(n_, 256), 256, 0, stream_>>>(sum_.get(), stage_.get(), weight, n_);
    QM_LAUNCHED();
    stream_.sync();
  }
  void result(double totalWeight, float* out) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!(totalWeight > 0)) fail("ZERO_TOTAL_WEIGHT", "weights", "the accumulated weights sum to 0");
    scaleKernel<<<blocksFor(n_, 256), 256, 0, stream_>>>(sum_.get(), 1.0 / totalWeight, stage_.get(), n_);
    QM_LAUNCHED();
    QM_CUDA(cudaMemcpyAsync(out, stage_.get(), n_ * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    stream_.sync();
  }

 private:
  size_t n_;
  Stream stream_;
  DeviceBuffer<double> sum_;
  DeviceBuffer<float> stage_;
  std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Accumulator> makeAccumulator(size_t length) {
  requireDevice();
  return std::make_unique<CudaAccumulator>(length);
}

}  // namespace gpu
}  // namespace qm
