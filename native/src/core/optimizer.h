#pragma once
// The optimizers of local training, as PyTorch defines them (torch.optim.SGD, Adam, AdamW), over
// one flat parameter vector. Their state (momentum, moments, step count) lives for one training
// call only: it never travels in an update.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace qm {

enum class OptimizerKind { Sgd, Adam, AdamW };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0.01;
  double momentum = 0;  // SGD
  bool nesterov = false;  // SGD, needs momentum > 0
  double weightDecay = 0;  // SGD and Adam: added to the gradient (L2); AdamW: decoupled
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
};

class Optimizer {
 public:
  /** Throws BAD_ARGUMENT naming the setting that is out of range. */
  Optimizer(const OptimizerConfig& cfg, size_t params);
  /** One step on w from gradient g (g may be changed: the weight decay is added to it). */
  void step(float* w, float* g);

 private:
  OptimizerConfig cfg_;
  std::vector<float> m_, v_;  // SGD: momentum buffer in m_; Adam: first and second moments
  size_t total_;
  uint64_t t_ = 0;
};

}  // namespace qm
