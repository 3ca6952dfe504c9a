#include "core/aggregate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/kernels.h"
#include "core/threads.h"

namespace qm {
namespace {

constexpr size_t kChunk = 1 << 16;  // floats a task: 256 KB of each input, enough to amortize scheduling

void requireSameLength(const std::vector<Span>& inputs) {
  if (inputs.empty()) fail("EMPTY_INPUT", "inputs", "inputs is empty: pass at least one Float32Array");
  for (size_t i = 1; i < inputs.size(); i++)
    if (inputs[i].size != inputs[0].size)
      fail("LENGTH_MISMATCH", "inputs[" + std::to_string(i) + "]",
           "inputs[" + std::to_string(i) + "] has length " + std::to_string(inputs[i].size) + " but inputs[0] has " +
               std::to_string(inputs[0].size));
}

// Sorts k values in place; insertion sort wins for the small K of federated rounds.
inline void sortSmall(float* v, size_t k) {
  if (k > 32) {
    std::sort(v, v + k);
    return;
  }
  for (size_t i = 1; i < k; i++) {
    float x = v[i];
    size_t j = i;
    while (j > 0 && v[j - 1] > x) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
}

// Gathers each coordinate's K values, sorts them and hands them to fn(sorted, k) -> value.
template <class Fn>
void perCoordinate(const std::vector<Span>& inputs, float* out, Fn fn) {
  size_t k = inputs.size(), n = inputs[0].size;
  constexpr size_t block = 1024;
  parallelRange(n, kChunk / 4, [&](size_t begin, size_t end) {
    std::vector<float> tile(block * k);
    for (size_t b = begin; b < end; b += block) {
      size_t len = std::min(block, end - b);
      for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < len; j++) tile[j * k + i] = inputs[i].data[b + j];
      for (size_t j = 0; j < len; j++) {
        float* v = &tile[j * k];
        sortSmall(v, k);
        out[b + j] = fn(v, k);
      }
    }
  });
}

}  // namespace

void checkFinite(const std::vector<Span>& inputs, const char* name) {
  for (size_t i = 0; i < inputs.size(); i++) {
    const float* x = inputs[i].data;
    std::atomic<bool> bad{false};
    parallelRange(inputs[i].size, kChunk, [&](size_t b, size_t e) {
      float acc = 0;
      for (size_t j = b; j < e; j++) acc += x[j] * 0.0f;  // NaN or Inf anywhere makes acc NaN
      if (acc != acc) bad = true;
    });
    if (bad) {
      size_t at = 0;
      while (at < inputs[i].size && std::isfinite(x[at])) at++;
      std::string arg = std::string(name) + "[" + std::to_string(i) + "]";
      fail("NON_FINITE", arg, arg + " holds a non-finite value (" + std::to_string(x[at]) + ") at index " + std::to_string(at));
    }
  }
}

void fedAvg(const std::vector<Span>& inputs, const std::vector<double>& weights, float* out) {
  requireSameLength(inputs);
  if (weights.size() != inputs.size())
    fail("LENGTH_MISMATCH", "weights", "weights has " + std::to_string(weights.size()) + " entries for " + std::to_string(inputs.size()) + " inputs");
  double total = 0;
  for (size_t i = 0; i < weights.size(); i++) {
    if (!std::isfinite(weights[i]) || weights[i] < 0)
      fail("BAD_WEIGHT", "weights[" + std::to_string(i) + "]", "weights[" + std::to_string(i) + "] must be a finite number >= 0");
    total += weights[i];
  }
  if (!(total > 0)) fail("ZERO_TOTAL_WEIGHT", "weights", "weights sum to 0: at least one weight must be positive");
  std::vector<const float*> xs(inputs.size());
  for (size_t i = 0; i < inputs.size(); i++) xs[i] = inputs[i].data;
  const Kernels& kern = kernels();
  double scale = 1.0 / total;
  parallelRange(inputs[0].size, kChunk, [&](size_t b, size_t e) {
    std::vector<const float*> at(xs.size());
    for (size_t i = 0; i < xs.size(); i++) at[i] = xs[i] + b;
    kern.weightedSum(at.data(), weights.data(), xs.size(), e - b, scale, out + b);
  });
}

void median(const std::vector<Span>& inputs, float* out) {
  requireSameLength(inputs);
  perCoordinate(inputs, out, [](const float* v, size_t k) {
    return (k & 1) ? v[k / 2] : static_cast<float>((static_cast<double>(v[k / 2 - 1]) + v[k / 2]) * 0.5);
  });
}

void trimmedMean(const std::vector<Span>& inputs, size_t trim, float* out) {
  requireSameLength(inputs);
  if (2 * trim >= inputs.size()) fail("BAD_ARGUMENT", "beta", "beta trims every input: keep at least one value per coordinate");
  perCoordinate(inputs, out, [trim](const float* v, size_t k) {
    double s = 0;
    for (size_t i = trim; i < k - trim; i++) s += v[i];
    return static_cast<float>(s / static_cast<double>(k - 2 * trim));
  });
}

std::vector<size_t> krumSelect(const std::vector<Span>& inputs, size_t f, size_t m, std::vector<double>* scoresOut) {
  requireSameLength(inputs);
  size_t k = inputs.size(), n = inputs[0].size;
  if (k < f + 3) fail("BAD_ARGUMENT", "f", "Krum needs more than f + 2 inputs (got " + std::to_string(k) + " inputs, f = " + std::to_string(f) + ")");
  if (m < 1 || m > k - f) fail("BAD_ARGUMENT", "m", "m must be between 1 and K - f = " + std::to_string(k - f));
  // Pairwise squared distances, each task summing its coordinate range into its own K×K block.
  size_t tasks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(tasks * k * k, 0.0);
  parallelRange(n, kChunk, [&](size_t b, size_t e) {
    double* d = &partial[(b / kChunk) * k * k];
    for (size_t p = 0; p < k; p++)
      for (size_t q = p + 1; q < k; q++) {
        const float* x = inputs[p].data;
        const float* y = inputs[q].data;
        double acc = 0;
        for (size_t j = b; j < e; j++) {
          double t = static_cast<double>(x[j]) - y[j];
          acc += t * t;
        }
        d[p * k + q] = acc;
      }
  });
  std::vector<double> dist(k * k, 0.0);
  for (size_t t = 0; t < tasks; t++)
    for (size_t p = 0; p < k; p++)
      for (size_t q = p + 1; q < k; q++) dist[p * k + q] += partial[t * k * k + p * k + q];
  for (size_t p = 0; p < k; p++)
    for (size_t q = p + 1; q < k; q++) dist[q * k + p] = dist[p * k + q];
  size_t closest = k - f - 2;
  std::vector<double> scores(k);
  for (size_t p = 0; p < k; p++) {
    std::vector<double> others;
    for (size_t q = 0; q < k; q++)
      if (q != p) others.push_back(dist[p * k + q]);
    std::sort(others.begin(), others.end());
    scores[p] = std::accumulate(others.begin(), others.begin() + closest, 0.0);
  }
  std::vector<size_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  order.resize(m);
  if (scoresOut) *scoresOut = scores;
  return order;
}

void Accumulator::add(const float* x, double weight) {
  std::lock_guard<std::mutex> lock(mutex_);
  const Kernels& kern = kernels();
  double* sum = sum_.data();
  parallelRange(sum_.size(), kChunk, [&](size_t b, size_t e) { kern.accumulate(sum + b, x + b, weight, e - b); });
}

void Accumulator::result(double totalWeight, float* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!(totalWeight > 0)) fail("ZERO_TOTAL_WEIGHT", "weights", "the accumulated weights sum to 0");
  double scale = 1.0 / totalWeight;
  const double* sum = sum_.data();
  parallelRange(sum_.size(), kChunk, [&](size_t b, size_t e) {
    for (size_t j = b; j < e; j++) out[j] = static_cast<float>(sum[j] * scale);
  });
}

double memcpyBandwidth(size_t bytes, int repeats) {
  std::vector<char> src(bytes), dst(bytes);
  std::memset(src.data(), 1, bytes);
  std::memset(dst.data(), 2, bytes);
  // The better of one large memcpy call and one split over the pool: the machine's copy ceiling.
  auto single = [&] { std::memcpy(dst.data(), src.data(), bytes); };
  auto pooled = [&] {
    parallelRange(bytes, 4 << 20, [&](size_t b, size_t e) { std::memcpy(dst.data() + b, src.data() + b, e - b); });
  };
  auto best = [&](const std::function<void()>& copy) {
    copy();
    std::vector<double> times;
    for (int r = 0; r < std::max(1, repeats); r++) {
      auto t0 = std::chrono::steady_clock::now();
      copy();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    return 2.0 * static_cast<double>(bytes) / times[times.size() / 2];
  };
  return std::max(best(single), best(pooled));
}

}  // namespace qm
