#pragma once
// The layers of a Sequential model, one per PyTorch nn.Sequential entry. A layer works on a whole
// batch (`rows` samples of inSize() floats in, outSize() out, images in C×H×W order) and spreads
// the work over the thread pool itself. Parameters live in the model's flat vector in PyTorch's
// layout (weight, then bias); gradients are written to a parallel flat vector.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace qm {

struct Dims {
  size_t c = 0, h = 1, w = 1;
  size_t size() const { return c * h * w; }
};

enum class LayerKind { Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, Relu, Gelu, Tanh, Sigmoid };

/** One layer as the caller describes it; the model derives the shapes. */
struct LayerConfig {
  LayerKind kind = LayerKind::Relu;
  size_t units = 0;  // dense units, conv2d output channels
  size_t kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0;
  double p = 0;  // dropout
};

/** What a layer keeps from a training forward pass for its backward pass. */
struct Scratch {
  std::vector<uint32_t> argmax;  // max pooling: the input index each output came from
  std::vector<float> mask;       // dropout: 0 or 1/(1-p) per value
  uint64_t seed = 0;             // dropout: this batch's mask seed
};

class Layer {
 public:
  virtual ~Layer() = default;
  Dims in, out;
  size_t weightSize = 0, biasSize = 0;
  /** PyTorch's default init bound 1/sqrt(fan_in) (nn.Linear, nn.Conv2d). */
  size_t fanIn = 0;

  size_t paramSize() const { return weightSize + biasSize; }
  /** y = layer(x) for `rows` samples; `train` non-null in training (dropout active, state kept). */
  virtual void forward(const float* params, const float* x, float* y, size_t rows, Scratch* train) const = 0;
  /**
   * From dy (the loss gradient at y) computes the parameter gradient into `grad` (overwritten)
   * and, when dx is not null, the gradient at x. x and y are the forward pass's.
   */
  virtual void backward(const float* params, const float* x, const float* y, const float* dy, float* dx, float* grad, size_t rows, const Scratch& s) const = 0;
  /** Called after the parameters changed (a dense layer keeps packed copies). */
  virtual void paramsChanged(const float* /*params*/) {}
  /**
   * Takes on the ReLU that follows this layer (applied to its own output, and to dy in backward,
   * y then being the ReLU's output); false where the layer cannot, the ReLU then running alone.
   */
  virtual bool absorbRelu() { return false; }
  /**
   * Max pooling after a layer that absorbed a ReLU: masks its input gradient by its output (the
   * pooled maximum passed the ReLU iff it is > 0), so that layer need not; false where it cannot.
   */
  virtual bool maskForReluBefore() { return false; }
  /** The layer after masks dy for this layer's absorbed ReLU (maskForReluBefore). */
  virtual void reluMaskedAfter() {}
};

/** Builds the layer for `cfg` taking `in`; throws BAD_SPEC (naming `where`) when it cannot. */
std::unique_ptr<Layer> makeLayer(const LayerConfig& cfg, const Dims& in, const std::string& where);

}  // namespace qm
