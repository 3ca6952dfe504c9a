#pragma once
// A multilayer perceptron of dense layers (optional ReLU) with softmax cross-entropy, trained by
// mini-batch SGD with momentum. Weights are kept as [in][out] (the layout the kernels stream
// best); import and export use PyTorch's nn.Linear layout [out][in].
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/kernels.h"

namespace qm {

struct LayerDims {
  size_t in, out;
  bool relu;
};

struct DataView {
  const float* x;
  const uint8_t* y;
  size_t count, features;
  /** regression targets, count × outputs (the Sequential engine's mean squared error only) */
  const float* t = nullptr;
};

struct TrainConfig {
  int epochs = 1;
  size_t batch = 32;
  double lr = 0.01;
  double momentum = 0;
  uint64_t seed = 0;
};

struct Stats {
  double loss = 0;
  double accuracy = 0;
  size_t samples = 0;
};

/** Called after each batch: epoch (0-based), batch index, batches per epoch, that batch's mean loss. */
using ProgressFn = std::function<void(int, size_t, size_t, double)>;

class Mlp {
 public:
  explicit Mlp(std::vector<LayerDims> layers);

  const std::vector<LayerDims>& layers() const { return layers_; }
  size_t inputs() const { return layers_.front().in; }
  size_t classes() const { return layers_.back().out; }

  /** PyTorch nn.Linear default: weights and biases uniform in ±1/sqrt(fan_in). */
  void initKaiming(uint64_t seed);
  /** w is [out][in] as in PyTorch; b is [out]. */
  void setLayer(size_t l, const float* w, const float* b);
  void getLayer(size_t l, float* w, float* b) const;

  Stats train(const DataView& data, const TrainConfig& cfg, const ProgressFn& progress);
  Stats evaluate(const DataView& data) const;
  /** probs is count × classes. */
  void predict(const float* x, size_t count, float* probs) const;

 private:
  // Runs every layer over `rows` samples of x; outs[l] receives layer l's output (rows × out_l).
  void forwardBlock(const float* x, size_t rows, float* const* outs) const;
  void refreshTransposed(size_t l);
  float& weight(size_t l, size_t i, size_t o) { return wt_[l][packedBIndex(layers_[l].in, layers_[l].out, i, o)]; }
  float weight(size_t l, size_t i, size_t o) const { return wt_[l][packedBIndex(layers_[l].in, layers_[l].out, i, o)]; }

  std::vector<LayerDims> layers_;
  // Weights as the SGEMM streams them (Kernels::packB's layout): wt_ of the [in][out] matrix for
  // the forward pass, wo_ of the [out][in] copy for the backward pass of layers > 0.
  std::vector<std::vector<float>> wt_;
  std::vector<std::vector<float>> wo_;
  std::vector<std::vector<float>> b_;
};

/** Softmax of one row in place; returns -log p[label] (label < n) and sets *argmax. */
double softmaxRow(float* z, size_t n, size_t label, size_t* argmax);

}  // namespace qm
