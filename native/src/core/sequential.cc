#include "core/sequential.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "core/error.h"
#include "core/rng.h"

namespace qm {
namespace {

size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

void checkLabels(const DataView& d, size_t classes) {
  for (size_t i = 0; i < d.count; i++)
    if (d.y[i] >= classes)
      fail("BAD_ARGUMENT", "data.y", "data.y[" + std::to_string(i) + "] is " + std::to_string(d.y[i]) + " but the model has " + std::to_string(classes) + " classes");
}

// Samples a block in evaluation and prediction: bounds the activations held at once.
constexpr size_t kBlock = 256;

}  // namespace

Sequential::Sequential(const Dims& input, const std::vector<LayerConfig>& layers, Loss loss) : input_(input), loss_(loss), configs_(layers) {
  if (layers.empty()) fail("BAD_SPEC", "layers", "a network needs at least one layer");
  checkedMul(checkedMul(input.c, input.h, "BAD_SPEC", "input", "the input"), input.w, "BAD_SPEC", "input", "the input");
  Dims shape = input;
  size_t total = 0;
  for (size_t i = 0; i < layers.size(); i++) {
    const std::string where = "layers[" + std::to_string(i) + "]";
    layers_.push_back(makeLayer(layers[i], shape, where));
    const Layer& l = *layers_.back();
    checkedMul(checkedMul(l.out.c, l.out.h, "BAD_SPEC", where, where + "'s output"), l.out.w, "BAD_SPEC", where, where + "'s output");
    offset_.push_back(total);
    if (l.paramSize() > 0) withParams_.push_back(i);
    if (__builtin_add_overflow(total, l.paramSize(), &total)) fail("BAD_SPEC", where, "the parameters overflow a 64-bit size");
    shape = l.out;
  }
  if (layers.back().kind != LayerKind::Dense) fail("BAD_SPEC", "layers", "the last layer must be dense: it gives the logits");
  absorbed_.assign(layers.size(), false);
  for (size_t i = 1; i < layers.size(); i++)
    absorbed_[i] = layers[i].kind == LayerKind::Relu && !absorbed_[i - 1] && layers_[i - 1]->absorbRelu();
  for (size_t i = 2; i < layers.size(); i++)
    if (absorbed_[i - 1] && layers_[i]->maskForReluBefore()) layers_[i - 2]->reluMaskedAfter();
  if (total > std::vector<float>().max_size()) fail("BAD_SPEC", "layers", "the model has more parameters than this machine can address");
  params_.assign(total, 0.0f);
  for (auto& l : layers_) l->paramsChanged(params_.data() + offset_[&l - &layers_[0]]);
}

void Sequential::initKaiming(uint64_t seed) {
  Rng rng(seed);
  for (size_t i : withParams_) {
    Layer& l = *layers_[i];
    const double bound = 1.0 / std::sqrt(static_cast<double>(l.fanIn));
    float* p = params_.data() + offset_[i];
    for (size_t j = 0; j < l.paramSize(); j++) p[j] = static_cast<float>((rng.uniform() * 2 - 1) * bound);
    l.paramsChanged(p);
  }
}

void Sequential::setLayer(size_t l, const float* w, const float* b) {
  const size_t i = withParams_.at(l);
  Layer& layer = *layers_[i];
  float* p = params_.data() + offset_[i];
  std::memcpy(p, w, layer.weightSize * sizeof(float));
  std::memcpy(p + layer.weightSize, b, layer.biasSize * sizeof(float));
  layer.paramsChanged(p);
}

void Sequential::setParams(const std::vector<float>& p) {
  if (p.size() != params_.size()) fail("SHAPE_MISMATCH", "params", "the parameter vector does not match the model");
  params_ = p;
  for (size_t i : withParams_) layers_[i]->paramsChanged(params_.data() + offset_[i]);
}

void Sequential::getLayer(size_t l, float* w, float* b) const {
  const size_t i = withParams_.at(l);
  const Layer& layer = *layers_[i];
  const float* p = params_.data() + offset_[i];
  std::memcpy(w, p, layer.weightSize * sizeof(float));
  std::memcpy(b, p + layer.weightSize, layer.biasSize * sizeof(float));
}

void Sequential::forward(const float* x, size_t rows, const std::vector<float*>& outs, std::vector<Scratch>* train) const {
  const float* in = x;
  for (size_t l = 0; l < layers_.size(); l++) {
    if (!absorbed_[l]) layers_[l]->forward(params_.data() + offset_[l], in, outs[l], rows, train ? &(*train)[l] : nullptr);
    in = outs[l];
  }
}

void Sequential::checkData(const DataView& data) const {
  if (data.features != inputs()) fail("SHAPE_MISMATCH", "data.features", "data has " + std::to_string(data.features) + " features but the model takes " + std::to_string(inputs()));
  if (data.count == 0) fail("EMPTY_INPUT", "data", "data holds no samples");
  if (loss_ == Loss::MeanSquaredError) {
    if (!data.t) fail("BAD_ARGUMENT", "data.targets", "a model with mean squared error needs float targets (data.targets)");
    for (size_t i = 0; i < data.count * classes(); i++)
      if (!std::isfinite(data.t[i])) fail("NON_FINITE", "data.targets", "data.targets[" + std::to_string(i) + "] is not finite");
  } else {
    if (!data.y) fail("BAD_ARGUMENT", "data.y", "a classifier needs labels (data.y)");
    checkLabels(data, classes());
  }
}

double Sequential::lossAndGradient(const float* out, const uint8_t* y, const float* t, size_t rows, float* dz, size_t* correct) const {
  const size_t C = classes();
  double sum = 0;
  if (loss_ == Loss::MeanSquaredError) {
    // PyTorch's MSELoss: the mean over every value, so d/dout = 2 (out − t) / (rows × outputs).
    const float scale = 2.0f / static_cast<float>(rows * C);
    for (size_t j = 0; j < rows * C; j++) {
      const float d = out[j] - t[j];
      sum += static_cast<double>(d) * d / static_cast<double>(C);
      if (dz) dz[j] = d * scale;
    }
    return sum;
  }
  const float invRows = 1.0f / static_cast<float>(rows);
  std::vector<float> row(C);
  for (size_t r = 0; r < rows; r++) {
    size_t best;
    float* p = dz ? dz + r * C : row.data();
    std::memcpy(p, out + r * C, C * sizeof(float));
    sum += softmaxRow(p, C, y[r], &best);
    *correct += best == y[r];
    if (!dz) continue;
    p[y[r]] -= 1.0f;  // softmax cross-entropy, mean over the batch: (p − onehot) / rows
    for (size_t j = 0; j < C; j++) p[j] *= invRows;
  }
  return sum;
}

Stats Sequential::train(const DataView& data, const SequentialTrainConfig& cfg, const ProgressFn& progress) {
  checkData(data);
  if (cfg.batch == 0) fail("BAD_ARGUMENT", "batchSize", "batchSize must be positive");
  if (data.count > 0xffffffffu) fail("BAD_ARGUMENT", "data.count", "training takes at most 2^32 - 1 samples a call");
  Optimizer opt(cfg.optimizer, params_.size());
  if (!(std::isfinite(cfg.proximalMu) && cfg.proximalMu >= 0)) fail("BAD_ARGUMENT", "proximalMu", "proximalMu must be a finite number >= 0");
  const float mu = static_cast<float>(cfg.proximalMu);
  const std::vector<float> start = mu > 0 ? params_ : std::vector<float>();
  const size_t L = layers_.size(), B = std::min(cfg.batch, data.count), F = inputs(), C = classes();
  std::vector<float> xb(checkedMul(B, F, "BAD_ARGUMENT", "batchSize", "a batch's inputs"));
  const bool regression = loss_ == Loss::MeanSquaredError;
  std::vector<uint8_t> yb(regression ? 0 : B);
  std::vector<float> tb(regression ? checkedMul(B, C, "BAD_ARGUMENT", "batchSize", "a batch's targets") : 0);
  std::vector<std::vector<float>> act(L), grad(L);
  std::vector<float*> outs(L), grads(L);  // an absorbed ReLU shares the buffers of the layer before
  for (size_t l = 0; l < L; l++) {
    if (absorbed_[l]) continue;
    const size_t n = checkedMul(B, layers_[l]->out.size(), "BAD_ARGUMENT", "batchSize", "a batch's activations");
    act[l].resize(n);
    grad[l].resize(n);
  }
  for (size_t l = 0; l < L; l++) {
    outs[l] = absorbed_[l] ? outs[l - 1] : act[l].data();
    grads[l] = absorbed_[l] ? grads[l - 1] : grad[l].data();
  }
  std::vector<float> g(params_.size(), 0.0f);
  std::vector<Scratch> scratch(L);
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
      for (size_t r = 0; r < rows; r++) {
        std::memcpy(&xb[r * F], data.x + static_cast<size_t>(perm[b0 + r]) * F, F * sizeof(float));
        if (regression) std::memcpy(&tb[r * C], data.t + static_cast<size_t>(perm[b0 + r]) * C, C * sizeof(float));
        else yb[r] = data.y[perm[b0 + r]];
      }
      for (size_t l = 0; l < L; l++) scratch[l].seed = rng.next();
      forward(xb.data(), rows, outs, &scratch);

      const double batchLoss = lossAndGradient(outs[L - 1], yb.data(), tb.data(), rows, grads[L - 1], &correctSum);

      for (size_t l = L; l-- > 0;) {
        if (absorbed_[l]) continue;  // its gradient is the layer before's, which applies the ReLU
        const float* in = l == 0 ? xb.data() : outs[l - 1];
        float* dx = l == 0 ? nullptr : grads[l - 1];
        layers_[l]->backward(params_.data() + offset_[l], in, outs[l], grads[l], dx, g.data() + offset_[l], rows, scratch[l]);
      }
      if (mu > 0)  // the gradient of μ/2‖w − w₀‖²
        for (size_t j = 0; j < g.size(); j++) g[j] += mu * (params_[j] - start[j]);
      opt.step(params_.data(), g.data());
      for (size_t i : withParams_) layers_[i]->paramsChanged(params_.data() + offset_[i]);

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

template <class Fn>
void Sequential::forBlocks(const float* x, size_t count, Fn fn) const {
  const size_t L = layers_.size(), F = inputs();
  std::vector<std::vector<float>> bufs(L);
  std::vector<float*> outs(L);
  for (size_t l = 0; l < L; l++) {
    if (!absorbed_[l]) bufs[l].resize(checkedMul(std::min(kBlock, count), layers_[l]->out.size(), "BAD_ARGUMENT", "data", "a block's activations"));
    outs[l] = absorbed_[l] ? outs[l - 1] : bufs[l].data();
  }
  for (size_t r0 = 0; r0 < count; r0 += kBlock) {
    const size_t rows = std::min(kBlock, count - r0);
    forward(x + r0 * F, rows, outs, nullptr);
    fn(r0, rows, outs[L - 1]);
  }
}

Stats Sequential::evaluate(const DataView& data) const {
  checkData(data);
  const size_t C = classes();
  double loss = 0;
  size_t correct = 0;
  forBlocks(data.x, data.count, [&](size_t r0, size_t rows, float* out) {
    loss += lossAndGradient(out, data.y ? data.y + r0 : nullptr, data.t ? data.t + r0 * C : nullptr, rows, nullptr, &correct);
  });
  Stats s;
  s.samples = data.count;
  s.loss = loss / static_cast<double>(data.count);
  s.accuracy = static_cast<double>(correct) / static_cast<double>(data.count);
  return s;
}

void Sequential::predict(const float* x, size_t count, float* probs) const {
  const size_t C = classes();
  forBlocks(x, count, [&](size_t r0, size_t rows, float* logits) {
    if (loss_ == Loss::CrossEntropy)
      for (size_t r = 0; r < rows; r++) {
        size_t best;
        softmaxRow(logits + r * C, C, 0, &best);
      }
    std::memcpy(probs + r0 * C, logits, rows * C * sizeof(float));
  });
}

}  // namespace qm
