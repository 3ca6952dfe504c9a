#pragma once
// The CUDA side of the engine, callable from plain C++. Built from native/src/cuda/*.cu when
// nvcc is found (QM_WITH_CUDA); otherwise core/gpu_stub.cc answers "no GPU". Every function but
// the queries throws NumericError CUDA_UNAVAILABLE when no device can be used.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aggregate.h"
#include "core/mlp.h"
#include "core/sequential.h"

namespace qm {
namespace gpu {

bool compiled();
/** Devices the driver reports; 0 where there is no driver or no GPU. */
int deviceCount();
std::string deviceName();

void fedAvg(const std::vector<Span>& inputs, const std::vector<double>& weights, float* out);
void median(const std::vector<Span>& inputs, float* out);
void trimmedMean(const std::vector<Span>& inputs, size_t trim, float* out);

/** FedAvg with K inputs already on the device (for benchmarks): time of the kernel alone, in ms (median of runs). */
double fedAvgResidentMs(size_t k, size_t n, int runs, std::vector<float>* sample);

/** Streaming FedAvg on the device: a float64 running sum in device memory. */
class Accumulator {
 public:
  virtual ~Accumulator() = default;
  virtual void add(const float* x, double weight) = 0;
  virtual void result(double totalWeight, float* out) = 0;
};
std::unique_ptr<Accumulator> makeAccumulator(size_t length);

/** Trains `net` on the device: uploads weights and data, runs the epochs, downloads the weights. */
Stats train(Mlp& net, const DataView& data, const TrainConfig& cfg, const ProgressFn& progress);
Stats evaluate(const Mlp& net, const DataView& data);

/** The Sequential engine on the device: the CPU's batches, dropout masks and optimizer, kernel by kernel. */
Stats train(Sequential& net, const DataView& data, const SequentialTrainConfig& cfg, const ProgressFn& progress);
Stats evaluate(const Sequential& net, const DataView& data);
/** As Sequential::predict: the forward pass on the device, the softmax on the host. */
void predict(const Sequential& net, const float* x, size_t count, float* probs);

}  // namespace gpu
}  // namespace qm
