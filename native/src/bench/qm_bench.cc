// Standalone benchmark of the numeric core for machines without Node (the GPU box): the same
// core and CUDA sources as the addon, no napi. Prints one line of JSON per measurement.
//   qm_bench MNIST_DIR [--quick]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/aggregate.h"
#include "core/gpu.h"
#include "core/info.h"
#include "core/mlp.h"
#include "core/threads.h"

using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double medianOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Data {
  std::vector<float> x;
  std::vector<uint8_t> y;
  size_t count = 0;
  qm::DataView view() const { return {x.data(), y.data(), count, 784}; }
};

Data loadIdx(const std::string& dir, const std::string& prefix) {
  std::ifstream img(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary), lab(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  if (!img || !lab) throw std::runtime_error("cannot open MNIST files in " + dir);
  std::vector<unsigned char> hi(16), hl(8);
  img.read(reinterpret_cast<char*>(hi.data()), 16);
  lab.read(reinterpret_cast<char*>(hl.data()), 8);
  Data d;
  d.count = (size_t(hi[4]) << 24) | (size_t(hi[5]) << 16) | (size_t(hi[6]) << 8) | hi[7];
  std::vector<unsigned char> px(d.count * 784);
  img.read(reinterpret_cast<char*>(px.data()), px.size());
  d.y.resize(d.count);
  lab.read(reinterpret_cast<char*>(d.y.data()), d.count);
  d.x.resize(px.size());
  for (size_t i = 0; i < px.size(); i++) d.x[i] = px[i] / 255.0f;
  return d;
}

std::vector<std::vector<float>> randomInputs(size_t k, size_t n, uint32_t seed) {
  std::vector<std::vector<float>> xs(k, std::vector<float>(n));
  qm::parallelFor(k, [&](size_t i) {
    std::mt19937 gen(seed + static_cast<uint32_t>(i));
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& v : xs[i]) v = u(gen);
  });
  return xs;
}

std::vector<qm::Span> spans(const std::vector<std::vector<float>>& xs) {
  std::vector<qm::Span> s;
  for (auto& x : xs) s.push_back({x.data(), x.size()});
  return s;
}

double relDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0, worst = 0;
  for (size_t j = 0; j < a.size(); j++) {
    num += double(a[j] - b[j]) * (a[j] - b[j]);
    den += double(b[j]) * b[j];
    worst = std::max(worst, std::abs(double(a[j]) - b[j]) / std::max(1e-30, std::abs(double(b[j]))));
  }
  (void)worst;
  return std::sqrt(num / den);
}

float maxUlps(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0;
  for (size_t j = 0; j < a.size(); j++) {
    float ulp = std::nextafter(std::abs(b[j]), INFINITY) - std::abs(b[j]);
    worst = std::max(worst, std::abs(a[j] - b[j]) / ulp);
  }
  return worst;
}

template <class Fn>
std::vector<double> timeRuns(int runs, Fn fn) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < runs; r++) {
    auto t0 = Clock::now();
    fn();
    t.push_back(since(t0));
  }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: qm_bench MNIST_DIR [--quick]\n");
    return 2;
  }
  std::string dir = argv[1];
  std::string flag = argc > 2 ? argv[2] : "";
  bool quick = flag == "--quick", trainOnly = flag == "--train-only";
  bool gpu = qm::gpu::deviceCount() > 0;
  std::printf("{\"what\":\"device\",\"threads\":%d,\"simd\":\"%s\",\"cudaCompiled\":%s,\"gpus\":%d,\"gpu\":\"%s\"}\n", qm::threadCount(), qm::simd(),
              qm::gpu::compiled() ? "true" : "false", qm::gpu::deviceCount(), qm::gpu::deviceName().c_str());
  std::fflush(stdout);
  try {
    // ---- aggregation: CPU all cores, GPU resident kernel, GPU from host memory; CPU/GPU agreement
    if (!trainOnly) {
      size_t k = 10, n = quick ? 1000000 : 10000000;
      auto xs = randomInputs(k, n, 1);
      auto in = spans(xs);
      std::vector<double> w(k);
      for (size_t i = 0; i < k; i++) w[i] = 100 + double(i);
      std::vector<float> cpu(n), dev(n);
      auto t = timeRuns(7, [&] { qm::fedAvg(in, w, cpu.data()); });
      double ms = medianOf(t);
      double bw = qm::memcpyBandwidth(size_t(1) << 30, 5);
      std::printf("{\"what\":\"fedavg_cpu\",\"k\":%zu,\"n\":%zu,\"ms\":%.3f,\"gbps\":%.2f,\"memcpy_gbps\":%.2f,\"pct_memcpy\":%.1f}\n", k, n, ms, (k + 1) * n * 4 / ms / 1e6,
                  bw / 1e9, 100 * ((k + 1) * n * 4 / ms / 1e6) / (bw / 1e9));
      std::fflush(stdout);
      if (gpu) {
        auto tg = timeRuns(5, [&] { qm::gpu::fedAvg(in, w, dev.data()); });
        std::printf("{\"what\":\"fedavg_gpu_from_host\",\"k\":%zu,\"n\":%zu,\"ms\":%.3f,\"rel_diff_vs_cpu\":%.3g,\"max_ulps_vs_cpu\":%.2f}\n", k, n, medianOf(tg), relDiff(dev, cpu),
                    maxUlps(dev, cpu));
        std::vector<float> mc(n), mg(n);
        qm::median(in, mc.data());
        qm::gpu::median(in, mg.data());
        std::printf("{\"what\":\"median_gpu_vs_cpu\",\"max_ulps\":%.2f}\n", maxUlps(mg, mc));
        qm::trimmedMean(in, 2, mc.data());
        qm::gpu::trimmedMean(in, 2, mg.data());
        std::printf("{\"what\":\"trimmed_gpu_vs_cpu\",\"max_ulps\":%.2f}\n", maxUlps(mg, mc));
        auto acc = qm::gpu::makeAccumulator(n);
        double total = 0;
        for (size_t i = 0; i < k; i++) acc->add(xs[i].data(), w[i]), total += w[i];
        acc->result(total, mg.data());
        std::printf("{\"what\":\"accumulator_gpu_vs_cpu_fedavg\",\"max_ulps\":%.2f}\n", maxUlps(mg, cpu));
        auto tm = timeRuns(3, [&] { qm::gpu::median(in, mg.data()); });
        auto tc = timeRuns(3, [&] { qm::median(in, mc.data()); });
        std::printf("{\"what\":\"median_ms\",\"gpu_from_host\":%.2f,\"cpu\":%.2f}\n", medianOf(tm), medianOf(tc));
        std::fflush(stdout);
        for (size_t big : {size_t(10000000), size_t(25000000)}) {
          std::vector<float> s;
          double kms = qm::gpu::fedAvgResidentMs(10, big, 50, &s);
          std::printf("{\"what\":\"fedavg_gpu_resident\",\"k\":10,\"n\":%zu,\"ms\":%.4f,\"gbps\":%.1f,\"rel_err_vs_f64\":%.3g}\n", big, kms, 11.0 * big * 4 / kms / 1e6, s.empty() ? -1.0 : s[0]);
          std::fflush(stdout);
        }
      }
    }
    // ---- training: one MNIST epoch, MLP 784-128-10, batch 64, lr 0.1, on CPU and GPU
    Data train = loadIdx(dir, "train"), test = loadIdx(dir, "t10k");
    std::vector<qm::LayerDims> dims = {{784, 128, true}, {128, 10, false}};
    for (double mom : {0.0, 0.9}) {
      qm::TrainConfig cfg;
      cfg.epochs = 1;
      cfg.batch = 64;
      cfg.lr = 0.1;
      cfg.momentum = mom;
      cfg.seed = 1;
      for (int onGpu = trainOnly && gpu ? 1 : 0; onGpu <= (gpu ? 1 : 0); onGpu++) {
        std::vector<double> times;
        double acc = 0, trainAcc = 0;
        int runs = quick ? 1 : 3;
        for (int r = -1; r < runs; r++) {  // r = -1: warm-up
          qm::Mlp net(dims);
          net.initKaiming(2024);
          auto t0 = Clock::now();
          qm::Stats s = onGpu ? qm::gpu::train(net, train.view(), cfg, nullptr) : net.train(train.view(), cfg, nullptr);
          double ms = since(t0);
          if (r < 0) continue;
          times.push_back(ms);
          trainAcc = s.accuracy;
          acc = net.evaluate(test.view()).accuracy;
          if (onGpu) {
            double gacc = qm::gpu::evaluate(net, test.view()).accuracy;
            if (std::abs(gacc - acc) > 1e-9) std::printf("{\"what\":\"warning\",\"gpu_eval\":%.4f,\"cpu_eval\":%.4f}\n", gacc, acc);
          }
        }
        std::printf("{\"what\":\"train_epoch\",\"device\":\"%s\",\"momentum\":%.1f,\"ms\":%.1f,\"times\":[", onGpu ? "cuda" : "cpu", mom, medianOf(times));
        for (size_t i = 0; i < times.size(); i++) std::printf("%s%.1f", i ? "," : "", times[i]);
        std::printf("],\"train_acc\":%.4f,\"test_acc\":%.4f}\n", trainAcc, acc);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::printf("{\"what\":\"error\",\"message\":\"%s\"}\n", e.what());
    return 1;
  }
  return 0;
}
