#pragma once
// A model as a PyTorch nn.Sequential: dense, conv2d, pooling, flatten, dropout and activation
// layers, softmax cross-entropy or mean squared error, trained by mini-batch SGD (momentum, Nesterov, weight decay),
// Adam or AdamW on float32, optionally with FedProx's proximal term. Parameters are kept in PyTorch's layout, one flat vector; each
// layer with parameters has a weight and a bias.
#include <memory>
#include <vector>

#include "core/layers.h"
#include "core/mlp.h"
#include "core/optimizer.h"

namespace qm {

enum class Loss { CrossEntropy, MeanSquaredError };

struct SequentialTrainConfig {
  int epochs = 1;
  size_t batch = 32;
  uint64_t seed = 0;
  OptimizerConfig optimizer;
  /** FedProx: μ/2‖w − w₀‖² added to the loss, w₀ the weights this run started from (0 = off). */
  double proximalMu = 0;
};

class Sequential {
 public:
  /** Throws BAD_SPEC naming the layer (`layers[i]`) that cannot take what the one before gives. */
  Sequential(const Dims& input, const std::vector<LayerConfig>& layers, Loss loss = Loss::CrossEntropy);

  Loss loss() const { return loss_; }

  size_t inputs() const { return input_.size(); }
  size_t classes() const { return layers_.back()->out.size(); }
  /** Layers with parameters (weight and bias each), in order. */
  size_t paramLayers() const { return withParams_.size(); }
  size_t weightSize(size_t l) const { return layers_[withParams_[l]]->weightSize; }
  size_t biasSize(size_t l) const { return layers_[withParams_[l]]->biasSize; }

  /** PyTorch's defaults for nn.Linear and nn.Conv2d: weights and biases uniform in ±1/sqrt(fan_in). */
  void initKaiming(uint64_t seed);
  /** w and b in PyTorch's layout ([out][in] or [out][in][kh][kw]; [out]) for parameter layer l. */
  void setLayer(size_t l, const float* w, const float* b);
  void getLayer(size_t l, float* w, float* b) const;

  Stats train(const DataView& data, const SequentialTrainConfig& cfg, const ProgressFn& progress);
  Stats evaluate(const DataView& data) const;
  /** Stats.accuracy is 0 with mean squared error. */
  // evaluate above; predict: probs is count × classes (softmax), or the raw outputs with mean squared error.
  void predict(const float* x, size_t count, float* probs) const;

  // For the CUDA engine (native/src/cuda/sequential.cu), which mirrors train() kernel by kernel.
  size_t layerCount() const { return layers_.size(); }
  const Layer& layer(size_t l) const { return *layers_[l]; }
  const LayerConfig& layerConfig(size_t l) const { return configs_[l]; }
  size_t paramOffset(size_t l) const { return offset_[l]; }
  const std::vector<float>& params() const { return params_; }
  /** Replaces every parameter (same size as params()). */
  void setParams(const std::vector<float>& p);
  /** Throws what train/evaluate throw for data this model cannot take. */
  void checkData(const DataView& data) const;

 private:
  // Runs all layers over `rows` samples; outs[l] receives layer l's output. train: training mode.
  void forward(const float* x, size_t rows, const std::vector<float*>& outs, std::vector<Scratch>* train) const;
  // Calls fn(block start, rows, logits) over blocks of samples, evaluation mode.
  template <class Fn>
  void forBlocks(const float* x, size_t count, Fn fn) const;

  // The loss of `rows` outputs against the batch's labels or targets (summed over samples), and its gradient into dz.
  double lossAndGradient(const float* out, const uint8_t* y, const float* t, size_t rows, float* dz, size_t* correct) const;

  Dims input_;
  Loss loss_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<LayerConfig> configs_;
  std::vector<size_t> offset_;     // each layer's parameters in params_
  std::vector<size_t> withParams_;  // the layers that have parameters
  // ReLU layers that the layer before took on (absorbRelu): they run as nothing, their output
  // and gradient buffers being the layer before's.
  std::vector<bool> absorbed_;
  std::vector<float> params_;
};

}  // namespace qm
