#include "core/optimizer.h"

#include <cmath>
#include <functional>
#include <string>

#include "core/error.h"
#include "core/threads.h"

namespace qm {
namespace {

void require(bool ok, const char* name, const std::string& expected) {
  if (!ok) fail("BAD_ARGUMENT", name, std::string(name) + " must be " + expected);
}

}  // namespace

Optimizer::Optimizer(const OptimizerConfig& cfg, size_t params) : cfg_(cfg), total_(params) {
  require(std::isfinite(cfg.lr) && cfg.lr > 0, "lr", "a finite number > 0");
  require(std::isfinite(cfg.weightDecay) && cfg.weightDecay >= 0, "weightDecay", "a finite number >= 0");
  if (cfg.kind == OptimizerKind::Sgd) {
    require(std::isfinite(cfg.momentum) && cfg.momentum >= 0 && cfg.momentum < 1, "momentum", "in [0, 1)");
    require(!cfg.nesterov || cfg.momentum > 0, "nesterov", "used with a momentum > 0");
    if (cfg.momentum > 0) m_.assign(params, 0.0f);
  } else {
    require(cfg.beta1 >= 0 && cfg.beta1 < 1, "beta1", "in [0, 1)");
    require(cfg.beta2 >= 0 && cfg.beta2 < 1, "beta2", "in [0, 1)");
    require(std::isfinite(cfg.eps) && cfg.eps > 0, "eps", "a finite number > 0");
    m_.assign(params, 0.0f);
    v_.assign(params, 0.0f);
  }
}

// Each update follows torch.optim's single-tensor code op by op, in float32.
void Optimizer::step(float* w, float* g) {
  t_++;
  const float lr = static_cast<float>(cfg_.lr), wd = static_cast<float>(cfg_.weightDecay);
  const std::function<void(size_t, size_t)> sgdPlain = [&](size_t a, size_t b) {
    for (size_t j = a; j < b; j++) {
      if (wd != 0) g[j] = g[j] + wd * w[j];
      w[j] = w[j] - lr * g[j];
    }
  };
  auto run = [&](size_t count, const std::function<void(size_t, size_t)>& fn) { parallelRange(count, 1 << 15, fn); };
  if (cfg_.kind == OptimizerKind::Sgd) {
    if (m_.empty()) return run(total_, sgdPlain);
    const float mu = static_cast<float>(cfg_.momentum);
    const bool nesterov = cfg_.nesterov;
    float* buf = m_.data();
    return run(total_, [&](size_t a, size_t b) {
      for (size_t j = a; j < b; j++) {
        float d = wd != 0 ? g[j] + wd * w[j] : g[j];
        buf[j] = buf[j] * mu + d;
        if (nesterov) d = d + mu * buf[j];
        else d = buf[j];
        w[j] = w[j] - lr * d;
      }
    });
  }
  const double b1 = cfg_.beta1, b2 = cfg_.beta2;
  const double bc1 = 1 - std::pow(b1, static_cast<double>(t_)), bc2 = 1 - std::pow(b2, static_cast<double>(t_));
  const float stepSize = static_cast<float>(cfg_.lr / bc1), bc2Sqrt = static_cast<float>(std::sqrt(bc2));
  const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2), eps = static_cast<float>(cfg_.eps);
  const bool decoupled = cfg_.kind == OptimizerKind::AdamW;
  float* m = m_.data();
  float* v = v_.data();
  run(total_, [&](size_t a, size_t b) {
    for (size_t j = a; j < b; j++) {
      float d = g[j];
      if (decoupled) w[j] = w[j] * (1.0f - lr * wd);
      else if (wd != 0) d = d + wd * w[j];
      m[j] = m[j] * fb1 + (1.0f - fb1) * d;
      v[j] = v[j] * fb2 + (1.0f - fb2) * d * d;
      const float denom = std::sqrt(v[j]) / bc2Sqrt + eps;
      w[j] = w[j] - stepSize * (m[j] / denom);
    }
  });
}

}  // namespace qm
