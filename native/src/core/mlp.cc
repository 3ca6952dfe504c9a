#include "core/mlp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/kernels.h"
#include "core/rng.h"
#include "core/threads.h"

namespace qm {
namespace {

// Rows a task: an even share per thread (rounding shares up to the 6-row register block made
// them uneven: 36 + 28 rows of a 64-row batch on two threads).
size_t rowsPerTask(size_t rows) {
  size_t t = static_cast<size_t>(threadCount());
  return std::max<size_t>(6, (rows + t - 1) / t);
}

size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

void checkLabels(const DataView& d, size_t classes) {
  for (size_t i = 0; i < d.count; i++)
    if (d.y[i] >= classes)
      fail("BAD_ARGUMENT", "data.y", "data.y[" + std::to_string(i) + "] is " + std::to_string(d.y[i]) + " but the model has " +
                                         std::to_string(classes) + " classes");
}

}  // namespace

double softmaxRow(float* z, size_t n, size_t label, size_t* argmax) {
  size_t best = 0;
  for (size_t j = 1; j < n; j++)
    if (z[j] > z[best]) best = j;
  float m = z[best];
  double sum = 0;
  double local[64];  // each exp once (they were computed twice): most models have few classes
  std::vector<double> heap(n > 64 ? n : 0);
  double* e = n > 64 ? heap.data() : local;
  for (size_t j = 0; j < n; j++) sum += e[j] = std::exp(static_cast<double>(z[j]) - m);
  double loss = std::log(sum) - (static_cast<double>(z[label]) - m);
  double inv = 1.0 / sum;
  for (size_t j = 0; j < n; j++) z[j] = static_cast<float>(e[j] * inv);
  *argmax = best;
  return loss;
}

Mlp::Mlp(std::vector<LayerDims> layers) : layers_(std::move(layers)) {
  if (layers_.empty()) fail("BAD_SPEC", "layers", "a network needs at least one layer");
  for (size_t l = 0; l < layers_.size(); l++) {
    const LayerDims& d = layers_[l];
    if (d.in == 0 || d.out == 0) fail("BAD_SPEC", "layers", "layer sizes must be positive");
    if (l > 0 && d.in != layers_[l - 1].out) fail("BAD_SPEC", "layers", "layer inputs must match the previous layer's units");
    const std::string where = "layers[" + std::to_string(l) + "]";
    size_t weights = checkedMul(d.in, d.out, "BAD_SPEC", where, where + " has inputs × units weights, which");
    checkedMul(weights, sizeof(float), "BAD_SPEC", where, where + "'s weights in bytes");
    if (weights > std::vector<float>().max_size())
      fail("BAD_SPEC", where, where + " has " + std::to_string(weights) + " weights, more than this machine can address");
    wt_.emplace_back(packedBSize(d.in, d.out), 0.0f);
    wo_.emplace_back(l > 0 ? packedBSize(d.out, d.in) : 0, 0.0f);
    b_.emplace_back(d.out, 0.0f);
  }
}

void Mlp::initKaiming(uint64_t seed) {
  Rng rng(seed);
  for (size_t l = 0; l < layers_.size(); l++) {
    const LayerDims& d = layers_[l];
    double bound = 1.0 / std::sqrt(static_cast<double>(d.in));
    std::vector<float> w(d.in * d.out), b(d.out);
    for (auto& v : w) v = static_cast<float>((rng.uniform() * 2 - 1) * bound);
    for (auto& v : b) v = static_cast<float>((rng.uniform() * 2 - 1) * bound);
    setLayer(l, w.data(), b.data());
  }
}

void Mlp::setLayer(size_t l, const float* w, const float* b) {
  const LayerDims& d = layers_[l];
  for (size_t o = 0; o < d.out; o++)
    for (size_t i = 0; i < d.in; i++) weight(l, i, o) = w[o * d.in + i];
  std::memcpy(b_[l].data(), b, d.out * sizeof(float));
  if (l > 0) refreshTransposed(l);
}

void Mlp::getLayer(size_t l, float* w, float* b) const {
  const LayerDims& d = layers_[l];
  for (size_t o = 0; o < d.out; o++)
    for (size_t i = 0; i < d.in; i++) w[o * d.in + i] = weight(l, i, o);
  std::memcpy(b, b_[l].data(), d.out * sizeof(float));
}

void Mlp::refreshTransposed(size_t l) {
  const LayerDims& d = layers_[l];
  float* dst = wo_[l].data();
  for (size_t o = 0; o < d.out; o++)
    for (size_t i = 0; i < d.in; i++) dst[packedBIndex(d.out, d.in, o, i)] = weight(l, i, o);
}

void Mlp::forwardBlock(const float* x, size_t rows, float* const* outs) const {
  const Kernels& kern = kernels();
  const float* in = x;
  for (size_t l = 0; l < layers_.size(); l++) {
    const LayerDims& d = layers_[l];
    float* out = outs[l];
    kern.gemm(GemmArgs{rows, d.out, d.in, in, d.in, 1, nullptr, 0, out, d.out, false, wt_[l].data()});
    const float* b = b_[l].data();
    for (size_t r = 0; r < rows; r++) {
      float* row = out + r * d.out;
      if (d.relu)
        for (size_t j = 0; j < d.out; j++) row[j] = std::max(row[j] + b[j], 0.0f);
      else
        for (size_t j = 0; j < d.out; j++) row[j] += b[j];
    }
    in = out;
  }
}

Stats Mlp::train(const DataView& data, const TrainConfig& cfg, const ProgressFn& progress) {
  if (data.features != inputs()) fail("SHAPE_MISMATCH", "data.features", "data has " + std::to_string(data.features) + " features but the model takes " + std::to_string(inputs()));
  if (data.count == 0) fail("EMPTY_INPUT", "data", "data holds no samples");
  checkLabels(data, classes());
  if (cfg.batch == 0) fail("BAD_ARGUMENT", "batchSize", "batchSize must be positive");
  // samples are shuffled as 32-bit indices
  if (data.count > 0xffffffffu) fail("BAD_ARGUMENT", "data.count", "training takes at most 2^32 - 1 samples a call");
  const Kernels& kern = kernels();
  const size_t L = layers_.size(), B = std::min(cfg.batch, data.count), F = inputs(), C = classes();
  for (size_t l = 0; l < L; l++) checkedMul(B, std::max(F, layers_[l].out), "BAD_ARGUMENT", "batchSize", "a batch's activations");
  const float lr = static_cast<float>(cfg.lr), mu = static_cast<float>(cfg.momentum);
  const bool momentum = cfg.momentum != 0;

  std::vector<float> xb(B * F);
  std::vector<uint8_t> yb(B);
  std::vector<std::vector<float>> act(L), dz(L), gw(L), vw(L), vb(L);
  for (size_t l = 0; l < L; l++) {
    act[l].resize(B * layers_[l].out);
    dz[l].resize(B * layers_[l].out);
    gw[l].resize(layers_[l].in * layers_[l].out);
    if (momentum) {
      vw[l].assign(layers_[l].in * layers_[l].out, 0.0f);
      vb[l].assign(layers_[l].out, 0.0f);
    }
  }
  std::vector<uint32_t> perm(data.count);
  std::iota(perm.begin(), perm.end(), 0u);
  Rng rng(cfg.seed);
  const size_t batches = ceilDiv(data.count, B);
  double lossSum = 0;
  size_t correctSum = 0, seen = 0;

  for (int epoch = 0; epoch < cfg.epochs; epoch++) {
    for (size_t i = data.count - 1; i > 0; i--) std::swap(perm[i], perm[rng.below(i + 1)]);
    for (size_t bi = 0; bi < batches; bi++) {
      const size_t b0 = bi * B, rows = std::min(B, data.count - b0);
      const size_t rowsPer = rowsPerTask(rows), fTasks = ceilDiv(rows, rowsPer);
      const float invRows = 1.0f / static_cast<float>(rows);
      std::vector<double> lossSlot(fTasks, 0.0);
      std::vector<size_t> correctSlot(fTasks, 0);

      // Forward, loss and output gradient: rows are independent, so each task does all layers.
      parallelFor(fTasks, [&](size_t t) {
        size_t r0 = t * rowsPer, r1 = std::min(rows, r0 + rowsPer);
        for (size_t r = r0; r < r1; r++) {
          std::memcpy(&xb[r * F], data.x + static_cast<size_t>(perm[b0 + r]) * F, F * sizeof(float));
          yb[r] = data.y[perm[b0 + r]];
        }
        std::vector<float*> outs(L);
        for (size_t l = 0; l < L; l++) outs[l] = act[l].data() + r0 * layers_[l].out;
        forwardBlock(&xb[r0 * F], r1 - r0, outs.data());
        for (size_t r = r0; r < r1; r++) {
          float* d = &dz[L - 1][r * C];
          std::memcpy(d, &act[L - 1][r * C], C * sizeof(float));
          size_t best;
          lossSlot[t] += softmaxRow(d, C, yb[r], &best);
          correctSlot[t] += best == yb[r];
          d[yb[r]] -= 1.0f;
          for (size_t j = 0; j < C; j++) d[j] *= invRows;
        }
      });

      // Backward, one step a layer: weight-gradient rows (with their SGD update), the bias, and
      // the gradient flowing to the layer below (from the [out][in] copy, so updates don't race).
      for (size_t l = L; l-- > 0;) {
        const LayerDims& d = layers_[l];
        const float* ain = l == 0 ? xb.data() : act[l - 1].data();
        const size_t wPer = rowsPerTask(d.in), wTasks = ceilDiv(d.in, wPer);
        const size_t aTasks = l > 0 ? fTasks : 0;
        parallelFor(wTasks + 1 + aTasks, [&](size_t t) {
          if (t < wTasks) {
            size_t i0 = t * wPer, i1 = std::min(d.in, i0 + wPer);
            float* g = gw[l].data() + i0 * d.out;
            kern.gemm(GemmArgs{i1 - i0, d.out, rows, ain + i0, 1, d.in, dz[l].data(), d.out, g, d.out, false});
            // The SGD step, strip by strip of the packed weights (rows i0..i1 of each).
            for (size_t o0 = 0; o0 < d.out; o0 += 16) {
              const size_t cols = std::min<size_t>(16, d.out - o0);
              for (size_t i = i0; i < i1; i++) {
                float* w = &weight(l, i, o0);
                const float* gi = g + (i - i0) * d.out + o0;
                if (momentum) {
                  float* v = vw[l].data() + i * d.out + o0;
                  for (size_t j = 0; j < cols; j++) {
                    v[j] = mu * v[j] + gi[j];
                    w[j] -= lr * v[j];
                  }
                } else {
                  for (size_t j = 0; j < cols; j++) w[j] -= lr * gi[j];
                }
              }
            }
          } else if (t == wTasks) {
            for (size_t j = 0; j < d.out; j++) {
              float s = 0;
              for (size_t r = 0; r < rows; r++) s += dz[l][r * d.out + j];
              if (momentum) s = vb[l][j] = mu * vb[l][j] + s;
              b_[l][j] -= lr * s;
            }
          } else {
            size_t r0 = (t - wTasks - 1) * rowsPer, r1 = std::min(rows, r0 + rowsPer);
            float* below = dz[l - 1].data() + r0 * d.in;
            kern.gemm(GemmArgs{r1 - r0, d.in, d.out, dz[l].data() + r0 * d.out, d.out, 1, nullptr, 0, below, d.in, false, wo_[l].data()});
            if (layers_[l - 1].relu) {
              const float* a = act[l - 1].data() + r0 * d.in;
              for (size_t j = 0; j < (r1 - r0) * d.in; j++) below[j] = a[j] <= 0 ? 0.0f : below[j];  // a select: vectorizes, no branch to mispredict
            }
          }
        });
        if (l > 0) refreshTransposed(l);
      }

      double batchLoss = 0;
      for (size_t t = 0; t < fTasks; t++) {
        batchLoss += lossSlot[t];
        correctSum += correctSlot[t];
      }
      lossSum += batchLoss;
      seen += rows;
      if (progress) progress(epoch, bi, batches, batchLoss / static_cast<double>(rows));
    }
  }
  Stats s;
  s.samples = seen;
  s.loss = seen ? lossSum / static_cast<double>(seen) : 0;
  s.accuracy = seen ? static_cast<double>(correctSum) / static_cast<double>(seen) : 0;
  return s;
}

Stats Mlp::evaluate(const DataView& data) const {
  if (data.features != inputs()) fail("SHAPE_MISMATCH", "data.features", "data has " + std::to_string(data.features) + " features but the model takes " + std::to_string(inputs()));
  if (data.count == 0) fail("EMPTY_INPUT", "data", "data holds no samples");
  checkLabels(data, classes());
  const size_t block = 256, tasks = ceilDiv(data.count, block), C = classes(), L = layers_.size();
  std::vector<double> loss(tasks, 0.0);
  std::vector<size_t> correct(tasks, 0);
  parallelFor(tasks, [&](size_t t) {
    size_t r0 = t * block, rows = std::min(block, data.count - r0);
    std::vector<std::vector<float>> bufs(L);
    std::vector<float*> outs(L);
    for (size_t l = 0; l < L; l++) {
      bufs[l].resize(rows * layers_[l].out);
      outs[l] = bufs[l].data();
    }
    forwardBlock(data.x + r0 * data.features, rows, outs.data());
    for (size_t r = 0; r < rows; r++) {
      size_t best, y = data.y[r0 + r];
      loss[t] += softmaxRow(outs[L - 1] + r * C, C, y, &best);
      correct[t] += best == y;
    }
  });
  Stats s;
  s.samples = data.count;
  for (size_t t = 0; t < tasks; t++) {
    s.loss += loss[t];
    s.accuracy += static_cast<double>(correct[t]);
  }
  s.loss /= static_cast<double>(data.count);
  s.accuracy /= static_cast<double>(data.count);
  return s;
}

void Mlp::predict(const float* x, size_t count, float* probs) const {
  const size_t block = 256, C = classes(), L = layers_.size();
  parallelFor(ceilDiv(count, block), [&](size_t t) {
    size_t r0 = t * block, rows = std::min(block, count - r0);
    std::vector<std::vector<float>> bufs(L);
    std::vector<float*> outs(L);
    for (size_t l = 0; l + 1 < L; l++) {
      bufs[l].resize(rows * layers_[l].out);
      outs[l] = bufs[l].data();
    }
    outs[L - 1] = probs + r0 * C;  // logits land in the caller's buffer and become probabilities there
    forwardBlock(x + r0 * inputs(), rows, outs.data());
    for (size_t r = 0; r < rows; r++) {
      size_t best;
      softmaxRow(outs[L - 1] + r * C, C, 0, &best);
    }
  });
}

}  // namespace qm
