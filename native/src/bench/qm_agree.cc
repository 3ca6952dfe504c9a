// CPU/CUDA agreement of the numeric core on identical inputs, and its error paths, for machines
// without Node (the GPU box). Prints one JSON line per check and exits 1 if any check fails.
//   qm_agree [--small] [--no-oom]
//     --small: sizes fit for compute-sanitizer (its checks are slow)
//     --no-oom: skip the deliberate device allocation failure
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/aggregate.h"
#include "core/error.h"
#include "core/gpu.h"
#include "core/mlp.h"

namespace {

int failures = 0;

void report(const char* what, const std::string& detail, double diff, double tol) {
  bool ok = diff <= tol;  // NaN fails
  if (!ok) failures++;
  std::printf("{\"what\":\"%s\",%s\"max_abs_diff\":%.3e,\"tol\":%.1e,\"ok\":%s}\n", what, detail.c_str(), diff, tol, ok ? "true" : "false");
  std::fflush(stdout);
}

double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); i++) {
    double d = std::abs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

std::vector<std::vector<float>> randomInputs(size_t k, size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<std::vector<float>> xs(k, std::vector<float>(n));
  for (auto& x : xs)
    for (auto& v : x) v = u(gen);
  return xs;
}

std::vector<qm::Span> spans(const std::vector<std::vector<float>>& xs) {
  std::vector<qm::Span> s;
  for (auto& x : xs) s.push_back({x.data(), x.size()});
  return s;
}

// Poisoned outputs: a value the engine failed to write shows as NaN and fails the comparison.
std::vector<float> poisoned(size_t n) { return std::vector<float>(n, NAN); }

struct Task {
  std::vector<float> x;
  std::vector<uint8_t> y;
  size_t count, features;
  qm::DataView view() const { return {x.data(), y.data(), count, features}; }
};

// Labels from a fixed random linear map: learnable, so training moves the weights for real.
Task task(size_t count, size_t features, size_t classes, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(features * classes);
  for (auto& v : w) v = u(gen);
  Task t{std::vector<float>(count * features), std::vector<uint8_t>(count), count, features};
  for (auto& v : t.x) v = u(gen);
  for (size_t r = 0; r < count; r++) {
    size_t best = 0;
    double bestScore = -INFINITY;
    for (size_t c = 0; c < classes; c++) {
      double s = 0;
      for (size_t f = 0; f < features; f++) s += t.x[r * features + f] * w[f * classes + c];
      if (s > bestScore) best = c, bestScore = s;
    }
    t.y[r] = static_cast<uint8_t>(best);
  }
  return t;
}

std::vector<float> allWeights(const qm::Mlp& net) {
  std::vector<float> all;
  for (size_t l = 0; l < net.layers().size(); l++) {
    const qm::LayerDims& d = net.layers()[l];
    std::vector<float> w(d.in * d.out), b(d.out);
    net.getLayer(l, w.data(), b.data());
    all.insert(all.end(), w.begin(), w.end());
    all.insert(all.end(), b.begin(), b.end());
  }
  return all;
}

void aggregation(bool small) {
  const size_t n = small ? 10007 : 1000003;  // not a multiple of 4: the kernel's tail runs
  for (size_t k : {size_t(3), size_t(10), size_t(20), size_t(70)}) {  // compiled K, run-time K, streamed (> 64)
    auto xs = randomInputs(k, n, static_cast<uint32_t>(100 + k));
    auto in = spans(xs);
    std::vector<double> w(k);
    for (size_t i = 0; i < k; i++) w[i] = 1 + static_cast<double>(i % 7) * 0.5;
    auto cpu = poisoned(n), gpu = poisoned(n);
    qm::fedAvg(in, w, cpu.data());
    qm::gpu::fedAvg(in, w, gpu.data());
    report("fedavg", "\"k\":" + std::to_string(k) + ",\"n\":" + std::to_string(n) + ",", maxAbsDiff(cpu, gpu), std::ldexp(1.0, -23));
  }
  auto xs = randomInputs(9, n, 7);
  auto in = spans(xs);
  {
    auto cpu = poisoned(n), gpu = poisoned(n);
    qm::median(in, cpu.data());
    qm::gpu::median(in, gpu.data());
    report("median", "\"k\":9,", maxAbsDiff(cpu, gpu), 0);
  }
  {
    auto cpu = poisoned(n), gpu = poisoned(n);
    qm::trimmedMean(in, 2, cpu.data());
    qm::gpu::trimmedMean(in, 2, gpu.data());
    report("trimmed_mean", "\"k\":9,\"trim\":2,", maxAbsDiff(cpu, gpu), 0);
  }
  {
    std::vector<double> w = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto cpu = poisoned(n), viaFedAvg = poisoned(n), gpu = poisoned(n);
    qm::Accumulator acc(n);
    auto dev = qm::gpu::makeAccumulator(n);
    for (size_t i = 0; i < xs.size(); i++) {
      acc.add(xs[i].data(), w[i]);
      dev->add(xs[i].data(), w[i]);
    }
    acc.result(45, cpu.data());
    dev->result(45, gpu.data());
    qm::fedAvg(in, w, viaFedAvg.data());
    report("accumulator", "", maxAbsDiff(cpu, gpu), std::ldexp(1.0, -23));
    report("accumulator_gpu_vs_fedavg_cpu", "", maxAbsDiff(viaFedAvg, gpu), std::ldexp(1.0, -23));
  }
  {
    auto sel = qm::krumSelect(in, 2, 3, nullptr);
    std::vector<qm::Span> chosen;
    for (size_t i : sel) chosen.push_back(in[i]);
    std::vector<double> ones(chosen.size(), 1.0);
    auto cpu = poisoned(n), gpu = poisoned(n);
    qm::fedAvg(chosen, ones, cpu.data());
    qm::gpu::fedAvg(chosen, ones, gpu.data());
    report("krum_m3", "", maxAbsDiff(cpu, gpu), std::ldexp(1.0, -23));
  }
}

size_t countAbove(const std::vector<float>& a, const std::vector<float>& b, double limit) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); i++) n += std::abs(static_cast<double>(a[i]) - b[i]) > limit;
  return n;
}

// Training from identical weights, batches and data on both devices. They differ only by float32
// rounding (GEMMs summed in another order; the split-K forward adds partial sums with atomics,
// in no fixed order), and SGD carries that forward. So agreement is checked in three steps:
//  - 1 and 8 steps: the weights agree to rounding (1e-5, 1e-4);
//  - 2 epochs: the runs must be the same training, judged by mean loss (1e-3 relative) and
//    accuracy (1 %); their weights' difference is printed beside the CPU's own sensitivity (the
//    CPU run again with lr × (1 + 2^-20)): with momentum 0.9 these runs amplify rounding by
//    ~10^5, and a pre-activation within rounding of 0 can take the other side of a ReLU.
void training(bool small) {
  // 784-128-64-10 as in the product's MNIST model: batch 64 takes the split-K GEMM on the
  // first layer (few output tiles, long K) and the CUDA graph for full batches.
  const size_t features = small ? 196 : 784, count = small ? 1000 : 8192;
  Task data = task(count, features, 10, 3);
  std::vector<qm::LayerDims> dims = {{features, 128, true}, {128, 64, true}, {64, 10, false}};
  auto run = [&](bool onGpu, size_t samples, int epochs, size_t batch, double momentum, double lr, qm::Stats* stats) {
    qm::TrainConfig cfg;
    cfg.epochs = epochs;
    cfg.batch = batch;
    cfg.lr = lr;
    cfg.momentum = momentum;
    cfg.seed = 11;
    qm::Mlp net(dims);
    net.initKaiming(5);
    qm::DataView view = data.view();
    view.count = std::min(samples, count);
    *stats = onGpu ? qm::gpu::train(net, view, cfg, nullptr) : net.train(view, cfg, nullptr);
    return net;
  };
  for (size_t batch : {size_t(64), size_t(100)}) {  // 100: a partial last batch, launched outside the graph
    for (double momentum : {0.0, 0.9}) {
      char detail[320];
      qm::Stats sc, sg;
      for (size_t steps : {size_t(1), size_t(8)}) {
        auto wc = allWeights(run(false, steps * batch, 1, batch, momentum, 0.05, &sc));
        auto wg = allWeights(run(true, steps * batch, 1, batch, momentum, 0.05, &sg));
        std::snprintf(detail, sizeof detail, "\"batch\":%zu,\"momentum\":%.1f,\"steps\":%zu,\"weights_over_1e-6\":%zu,", batch, momentum, steps, countAbove(wc, wg, 1e-6));
        report("train_steps_weights", detail, maxAbsDiff(wc, wg), steps == 1 ? 1e-5 : 1e-4);
      }
      qm::Mlp cpu = run(false, count, 2, batch, momentum, 0.05, &sc);
      qm::Mlp gpu = run(true, count, 2, batch, momentum, 0.05, &sg);
      qm::Stats sp;
      qm::Mlp nudged = run(false, count, 2, batch, momentum, 0.05 * (1 + std::ldexp(1.0, -20)), &sp);
      auto wc = allWeights(cpu), wg = allWeights(gpu), wp = allWeights(nudged);
      std::snprintf(detail, sizeof detail,
                    "\"batch\":%zu,\"momentum\":%.1f,\"steps\":%zu,\"loss_cpu\":%.7f,\"loss_cuda\":%.7f,\"acc_cpu\":%.4f,\"acc_cuda\":%.4f,\"max_weight_diff\":%.3e,\"weights_over_1e-6\":%zu,\"cpu_self_sensitivity\":%.3e,\"note\":\"value is relative loss difference\",",
                    batch, momentum, 2 * ((count + batch - 1) / batch), sc.loss, sg.loss, sc.accuracy, sg.accuracy, maxAbsDiff(wc, wg), countAbove(wc, wg, 1e-6), maxAbsDiff(wc, wp));
      report("train_2_epochs", detail, std::abs(sc.loss - sg.loss) / sc.loss, 1e-3);
      report("train_2_epochs_accuracy", "", std::abs(sc.accuracy - sg.accuracy), 0.01);

      // Identical weights evaluated on both devices.
      qm::Stats ec = cpu.evaluate(data.view()), eg = qm::gpu::evaluate(cpu, data.view());
      std::snprintf(detail, sizeof detail, "\"loss_cpu\":%.8f,\"loss_cuda\":%.8f,\"acc_cpu\":%.5f,\"acc_cuda\":%.5f,\"note\":\"value is relative loss difference\",", ec.loss, eg.loss, ec.accuracy,
                    eg.accuracy);
      report("evaluate", detail, std::abs(ec.loss - eg.loss) / ec.loss, 1e-5);
      report("evaluate_accuracy", "", std::abs(ec.accuracy - eg.accuracy), 1.0 / static_cast<double>(count) + 1e-12);
    }
  }
}

void errorPaths(bool deviceOom) {
  // Device memory that cannot exist must come back as OUT_OF_MEMORY, and the device must stay
  // usable. (compute-sanitizer reports the refused cudaMalloc as an API error: --no-oom skips it.)
  std::vector<size_t> sizes = {~size_t(0) / 2};  // overflows a byte count: refused before cudaMalloc
  if (deviceOom) sizes.push_back(size_t(1) << 40);  // 8 TB: refused by cudaMalloc
  for (size_t n : sizes) {
    std::string code = "none";
    try {
      qm::gpu::makeAccumulator(n);
    } catch (const qm::NumericError& e) {
      code = e.code();
    } catch (const std::exception& e) {
      code = std::string("other: ") + e.what();
    }
    bool ok = code == "OUT_OF_MEMORY";
    if (!ok) failures++;
    std::printf("{\"what\":\"cuda_oom\",\"values\":%zu,\"code\":\"%s\",\"ok\":%s}\n", n, code.c_str(), ok ? "true" : "false");
  }
  auto xs = randomInputs(4, 1000, 1);
  std::vector<double> w(4, 1.0);
  auto cpu = poisoned(1000), gpu = poisoned(1000);
  qm::fedAvg(spans(xs), w, cpu.data());
  qm::gpu::fedAvg(spans(xs), w, gpu.data());
  report("fedavg_after_oom", "", maxAbsDiff(cpu, gpu), std::ldexp(1.0, -23));
  std::string code = "none";
  try {
    qm::Mlp net({{size_t(1) << 52, size_t(1) << 20, false}});
  } catch (const qm::NumericError& e) {
    code = e.code();
  }
  bool ok = code == "BAD_SPEC";
  if (!ok) failures++;
  std::printf("{\"what\":\"spec_overflow\",\"code\":\"%s\",\"ok\":%s}\n", code.c_str(), ok ? "true" : "false");
}

}  // namespace

int main(int argc, char** argv) {
  bool small = false, deviceOom = true;
  for (int i = 1; i < argc; i++) {
    small |= std::string(argv[i]) == "--small";
    deviceOom &= std::string(argv[i]) != "--no-oom";
  }
  std::printf("{\"what\":\"device\",\"cudaCompiled\":%s,\"gpus\":%d,\"gpu\":\"%s\",\"small\":%s}\n", qm::gpu::compiled() ? "true" : "false", qm::gpu::deviceCount(),
              qm::gpu::deviceName().c_str(), small ? "true" : "false");
  if (qm::gpu::deviceCount() == 0) {
    std::printf("{\"what\":\"skipped\",\"why\":\"no CUDA device\"}\n");
    return 0;
  }
  try {
    aggregation(small);
    training(small);
    errorPaths(deviceOom);
  } catch (const std::exception& e) {
    std::printf("{\"what\":\"error\",\"message\":\"%s\"}\n", e.what());
    return 1;
  }
  std::printf("{\"what\":\"summary\",\"failures\":%d}\n", failures);
  return failures ? 1 : 0;
}
