// Used when the addon is built without CUDA: every GPU entry point reports that none exists.
#ifndef QM_WITH_CUDA
#include "core/error.h"
#include "core/gpu.h"

namespace qm {
namespace gpu {
namespace {
[[noreturn]] void unavailable() {
  fail("CUDA_UNAVAILABLE", "device", "this build of the addon has no CUDA support (rebuild where nvcc is installed)");
}
}  // namespace

bool compiled() { return false; }
int deviceCount() { return 0; }
std::string deviceName() { return ""; }
void fedAvg(const std::vector<Span>&, const std::vector<double>&, float*) { unavailable(); }
void median(const std::vector<Span>&, float*) { unavailable(); }
void trimmedMean(const std::vector<Span>&, size_t, float*) { unavailable(); }
double fedAvgResidentMs(size_t, size_t, int, std::vector<float>*) { unavailable(); }
std::unique_ptr<Accumulator> makeAccumulator(size_t) { unavailable(); }
Stats train(Mlp&, const DataView&, const TrainConfig&, const ProgressFn&) { unavailable(); }
Stats evaluate(const Mlp&, const DataView&) { unavailable(); }
Stats train(Sequential&, const DataView&, const SequentialTrainConfig&, const ProgressFn&) { unavailable(); }
Stats evaluate(const Sequential&, const DataView&) { unavailable(); }
void predict(const Sequential&, const float*, size_t, float*) { unavailable(); }
}  // namespace gpu
}  // namespace qm
#endif
