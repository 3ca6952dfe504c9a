#pragma once
// Aggregation of K equally long float32 vectors: FedAvg, a streaming FedAvg accumulator and
// the robust aggregators (coordinate-wise median, trimmed mean, Krum). Pure CPU code; the
// callers have validated arguments, but each function checks what it relies on.
#include <cstddef>
#include <mutex>
#include <vector>

namespace qm {

/** One input: a pointer and its length (the memory belongs to the caller for the call). */
struct Span {
  const float* data;
  size_t size;
};

/** Throws NON_FINITE naming `inputs[i]` if an input holds NaN or Infinity. */
void checkFinite(const std::vector<Span>& inputs, const char* name = "inputs");

/** out = sum w_i x_i / sum w_i, summed in float64. */
void fedAvg(const std::vector<Span>& inputs, const std::vector<double>& weights, float* out);

/** Coordinate-wise median (mean of the two middle values when K is even, like numpy). */
void median(const std::vector<Span>& inputs, float* out);

/** Coordinate-wise mean after dropping `trim` values from each end. */
void trimmedMean(const std::vector<Span>& inputs, size_t trim, float* out);

/** Krum scores: sum of squared distances to the K-f-2 nearest others. Returns the indices of the m best. */
std::vector<size_t> krumSelect(const std::vector<Span>& inputs, size_t f, size_t m, std::vector<double>* scores);

/** Streaming FedAvg: one float64 running sum, not K inputs. add() calls are serialized. */
class Accumulator {
 public:
  explicit Accumulator(size_t length) : sum_(length, 0.0) {}
  size_t length() const { return sum_.size(); }
  void add(const float* x, double weight);
  /** Writes sum / totalWeight into out. */
  void result(double totalWeight, float* out);

 private:
  std::vector<double> sum_;
  std::mutex mutex_;
};

/** Measured copy bandwidth of this machine: bytes read + written per second, using all threads. */
double memcpyBandwidth(size_t bytes, int repeats);

}  // namespace qm
