// The Network class as seen from JavaScript: owns one qm::Mlp (a dense model given as an array of
// {in, out, relu}) or one qm::Sequential (any model, given as {input, layers}); both train and
// evaluate on the CPU or CUDA (a dense model predicts on the CPU); train/evaluate/predict run on a worker thread while the JS object is held by a reference, and a busy flag refuses overlapping
// calls (the facade queues them, so callers never see it).
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "binding/bindings.h"
#include "binding/js.h"
#include "core/gpu.h"
#include "core/mlp.h"
#include "core/sequential.h"

namespace qmjs {
namespace {

Napi::Uint8Array uint8Array(const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throwError(v.Env(), "BAD_ARGUMENT", name, name + " must be a Uint8Array");
  return v.As<Napi::Uint8Array>();
}

std::pair<size_t, size_t> pairOf(const Napi::Value& v, const std::string& name) {
  if (v.IsUndefined()) return {0, 0};
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2) throwError(v.Env(), "BAD_SPEC", name, name + " must be [height, width]");
  Napi::Array a = v.As<Napi::Array>();
  return {count(a.Get(0u), name), count(a.Get(1u), name)};
}

qm::LayerKind layerKind(const Napi::Value& v, const std::string& name) {
  static const std::pair<const char*, qm::LayerKind> kinds[] = {
      {"dense", qm::LayerKind::Dense},         {"conv2d", qm::LayerKind::Conv2d},   {"maxpool2d", qm::LayerKind::MaxPool2d},
      {"avgpool2d", qm::LayerKind::AvgPool2d}, {"flatten", qm::LayerKind::Flatten}, {"dropout", qm::LayerKind::Dropout},
      {"relu", qm::LayerKind::Relu},           {"gelu", qm::LayerKind::Gelu},       {"tanh", qm::LayerKind::Tanh},
      {"sigmoid", qm::LayerKind::Sigmoid}};
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  for (const auto& k : kinds)
    if (s == k.first) return k.second;
  throwError(v.Env(), "BAD_SPEC", name, name + " is not a known layer kind");
}

// {input: [c, h, w], layers: [{kind, units?, kernel?, stride?, padding?, p?}], loss?: "cross-entropy" | "mse"}
std::unique_ptr<qm::Sequential> makeSequential(Napi::Env env, Napi::Object o) {
  Napi::Value input = o.Get("input");
  if (!input.IsArray() || input.As<Napi::Array>().Length() != 3) throwError(env, "BAD_SPEC", "input", "input must be [channels, height, width]");
  Napi::Array in = input.As<Napi::Array>();
  qm::Dims dims{count(in.Get(0u), "input"), count(in.Get(1u), "input"), count(in.Get(2u), "input")};
  if (!o.Get("layers").IsArray()) throwError(env, "BAD_SPEC", "layers", "layers must be an array");
  Napi::Array arr = o.Get("layers").As<Napi::Array>();
  std::vector<qm::LayerConfig> layers;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    const std::string where = "layers[" + std::to_string(i) + "]";
    if (!arr.Get(i).IsObject()) throwError(env, "BAD_SPEC", where, where + " must be an object");
    Napi::Object l = arr.Get(i).As<Napi::Object>();
    qm::LayerConfig c;
    c.kind = layerKind(l.Get("kind"), where + ".kind");
    if (!l.Get("units").IsUndefined()) c.units = count(l.Get("units"), where + ".units");
    std::tie(c.kh, c.kw) = pairOf(l.Get("kernel"), where + ".kernel");
    if (!l.Get("stride").IsUndefined()) std::tie(c.sh, c.sw) = pairOf(l.Get("stride"), where + ".stride");
    std::tie(c.ph, c.pw) = pairOf(l.Get("padding"), where + ".padding");
    if (!l.Get("p").IsUndefined()) c.p = number(l.Get("p"), where + ".p");
    layers.push_back(c);
  }
  Napi::Value loss = o.Get("loss");
  std::string lossName = loss.IsUndefined() ? "cross-entropy" : loss.IsString() ? loss.As<Napi::String>().Utf8Value() : "";
  if (lossName != "cross-entropy" && lossName != "mse") throwError(env, "BAD_SPEC", "loss", "loss must be \"cross-entropy\" or \"mse\"");
  return std::make_unique<qm::Sequential>(dims, layers, lossName == "mse" ? qm::Loss::MeanSquaredError : qm::Loss::CrossEntropy);
}

qm::OptimizerKind optimizerKind(const Napi::Value& v) {
  std::string s = v.IsUndefined() ? "sgd" : v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "sgd") return qm::OptimizerKind::Sgd;
  if (s == "adam") return qm::OptimizerKind::Adam;
  if (s == "adamw") return qm::OptimizerKind::AdamW;
  throwError(v.Env(), "BAD_ARGUMENT", "optimizer", "optimizer must be \"sgd\", \"adam\" or \"adamw\"");
}

double numberOr(const Napi::Value& v, const std::string& name, double fallback) { return v.IsUndefined() ? fallback : number(v, name); }

struct Progress {
  int epoch;
  size_t batch, batches;
  double loss;
  std::shared_ptr<std::promise<void>> delivered;
};

}  // namespace

class NetworkWrap : public Napi::ObjectWrap<NetworkWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Network",
                       {InstanceMethod("init", &NetworkWrap::method<&NetworkWrap::Init>),
                        InstanceMethod("setLayer", &NetworkWrap::method<&NetworkWrap::SetLayer>),
                        InstanceMethod("getLayer", &NetworkWrap::method<&NetworkWrap::GetLayer>),
                        InstanceMethod("train", &NetworkWrap::method<&NetworkWrap::Train>),
                        InstanceMethod("evaluate", &NetworkWrap::method<&NetworkWrap::Evaluate>),
                        InstanceMethod("predict", &NetworkWrap::method<&NetworkWrap::Predict>)});
  }

  // A spec too large for memory is OUT_OF_MEMORY; one too large for any memory (sizes that
  // overflow, or beyond what a vector can hold) is BAD_SPEC.
  explicit NetworkWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetworkWrap>(info) {
    Napi::Env env = info.Env();
    guard(
        env,
        [&] {
          cuda_ = deviceName(info[1]) == "cuda";
          if (info[0].IsObject() && !info[0].IsArray()) {
            seq_ = makeSequential(env, info[0].As<Napi::Object>());
            return;
          }
          if (!info[0].IsArray()) throwError(env, "BAD_SPEC", "layers", "layers must be an array");
          Napi::Array arr = info[0].As<Napi::Array>();
          std::vector<qm::LayerDims> dims;
          for (uint32_t i = 0; i < arr.Length(); i++) {
            if (!arr.Get(i).IsObject()) throwError(env, "BAD_SPEC", "layers", "each layer must be an object");
            Napi::Object o = arr.Get(i).As<Napi::Object>();
            dims.push_back({count(o.Get("in"), "layers.in"), count(o.Get("out"), "layers.out"), flag(o.Get("relu"))});
          }
          net_ = std::make_unique<qm::Mlp>(dims);
        },
        "BAD_SPEC");
  }

 private:
  template <Napi::Value (NetworkWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value method(const Napi::CallbackInfo& info) {
    return guardedMethod<NetworkWrap, M>(this, info);
  }

  void requireIdle(Napi::Env env) {
    if (busy_) throwError(env, "BUSY", "", "the network is busy with another call: await it first");
  }

  Napi::Value Init(const Napi::CallbackInfo& info) {
    requireIdle(info.Env());
    const auto seed = static_cast<uint64_t>(number(info[0], "seed"));
    if (seq_) seq_->initKaiming(seed);
    else net_->initKaiming(seed);
    return info.Env().Undefined();
  }

  // Sizes of parameter layer l's weight and bias; BAD_ARGUMENT when there is no such layer.
  std::pair<size_t, size_t> layerSizes(Napi::Env env, const Napi::Value& v) {
    size_t l = count(v, "layer");
    size_t layers = seq_ ? seq_->paramLayers() : net_->layers().size();
    if (l >= layers) throwError(env, "BAD_ARGUMENT", "layer", "no such layer");
    if (seq_) return {seq_->weightSize(l), seq_->biasSize(l)};
    const qm::LayerDims& d = net_->layers()[l];
    return {d.in * d.out, d.out};
  }

  Napi::Value SetLayer(const Napi::CallbackInfo& info) {
    requireIdle(info.Env());
    auto [ws, bs] = layerSizes(info.Env(), info[0]);
    size_t l = count(info[0], "layer");
    Napi::Float32Array w = float32Array(info[1], "weight"), b = float32Array(info[2], "bias");
    if (w.ElementLength() != ws || b.ElementLength() != bs) throwError(info.Env(), "SHAPE_MISMATCH", "weight", "tensor sizes do not match the layer");
    if (seq_) seq_->setLayer(l, w.Data(), b.Data());
    else net_->setLayer(l, w.Data(), b.Data());
    return info.Env().Undefined();
  }

  Napi::Value GetLayer(const Napi::CallbackInfo& info) {
    requireIdle(info.Env());
    auto [ws, bs] = layerSizes(info.Env(), info[0]);
    size_t l = count(info[0], "layer");
    Napi::Float32Array w = Napi::Float32Array::New(info.Env(), ws), b = Napi::Float32Array::New(info.Env(), bs);
    if (seq_) seq_->getLayer(l, w.Data(), b.Data());
    else net_->getLayer(l, w.Data(), b.Data());
    Napi::Array pair = Napi::Array::New(info.Env(), 2);
    pair.Set(0u, w);
    pair.Set(1u, b);
    return pair;
  }

  struct RunBaton {
    NetworkWrap* self;
    Napi::ObjectReference selfRef, xRef, yRef, outRef;
    qm::DataView data{};
    qm::TrainConfig cfg;
    qm::OptimizerConfig optimizer;
    double proximalMu = 0;
    bool train = false;
    float* out = nullptr;  // predict only
    qm::Stats stats;
    Napi::ThreadSafeFunction progress;  // train with onProgress only
    Failure failure;
  };

  RunBaton baton(const Napi::CallbackInfo& info, bool withLabels) {
    Napi::Env env = info.Env();
    requireIdle(env);
    Napi::Float32Array x = float32Array(info[0], "data.x");
    RunBaton b{this, Napi::Persistent(Value()), Napi::Persistent(x.As<Napi::Object>())};
    b.data.x = x.Data();
    b.data.count = count(info[withLabels ? 2 : 1], "data.count");
    b.data.features = withLabels ? count(info[3], "data.features") : inputs();
    size_t values = 0;
    if (__builtin_mul_overflow(b.data.count, b.data.features, &values) || x.ElementLength() != values)
      throwError(env, "LENGTH_MISMATCH", "data.x", "data.x has " + std::to_string(x.ElementLength()) + " values, expected count × features");
    if (withLabels && seq_ && seq_->loss() == qm::Loss::MeanSquaredError) {
      Napi::Float32Array t = float32Array(info[1], "data.targets");
      size_t want = 0;
      if (__builtin_mul_overflow(b.data.count, seq_->classes(), &want) || t.ElementLength() != want)
        throwError(env, "LENGTH_MISMATCH", "data.targets", "data.targets must hold count × outputs values");
      b.yRef = Napi::Persistent(t.As<Napi::Object>());
      b.data.t = t.Data();
    } else if (withLabels) {
      Napi::Uint8Array y = uint8Array(info[1], "data.y");
      if (y.ElementLength() != b.data.count) throwError(env, "LENGTH_MISMATCH", "data.y", "data.y must hold one label per sample");
      b.yRef = Napi::Persistent(y.As<Napi::Object>());
      b.data.y = y.Data();
    }
    return b;
  }

  // Runs on the JS thread once the call is over, whether it succeeded or not: the network takes
  // calls again, and the progress callback no longer keeps the event loop alive.
  static void finishRun(RunBaton& b) {
    b.self->busy_ = false;
    if (b.progress) {
      b.progress.Release();
      b.progress = Napi::ThreadSafeFunction();
    }
  }

  static Napi::Value settleStats(Napi::Env env, RunBaton& b) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", b.stats.loss);
    o.Set("accuracy", b.stats.accuracy);
    o.Set("samples", static_cast<double>(b.stats.samples));
    return o;
  }

  static void runTrain(RunBaton& b) {
    qm::ProgressFn report;
    if (b.progress) {
      auto last = std::make_shared<std::chrono::steady_clock::time_point>();
      Napi::ThreadSafeFunction tsfn = b.progress;
      int epochs = b.cfg.epochs;
      report = [tsfn, last, epochs](int epoch, size_t batch, size_t batches, double loss) mutable {
        auto now = std::chrono::steady_clock::now();
        bool final = epoch + 1 == epochs && batch + 1 == batches;
        if (batch + 1 != batches && now - *last < std::chrono::milliseconds(100)) return;
        *last = now;
        // The final report is waited for, so that it reaches JS before the promise settles.
        auto delivered = final ? std::make_shared<std::promise<void>>() : nullptr;
        auto* p = new Progress{epoch, batch, batches, loss, delivered};
        napi_status st = tsfn.NonBlockingCall(p, [](Napi::Env env, Napi::Function cb, Progress* p) {
          std::unique_ptr<Progress> own(p);
          try {
            Napi::Object o = Napi::Object::New(env);
            o.Set("epoch", own->epoch);
            o.Set("batch", static_cast<double>(own->batch));
            o.Set("batches", static_cast<double>(own->batches));
            o.Set("loss", own->loss);
            cb.Call({o});
          } catch (...) {
            // a throwing progress callback (or a report that cannot be built) must not break training
          }
          if (own->delivered) own->delivered->set_value();
        });
        if (st != napi_ok) {
          delete p;
          return;
        }
        if (delivered) delivered->get_future().wait_for(std::chrono::seconds(10));
      };
    }
    NetworkWrap* self = b.self;
    if (self->seq_) {
      qm::SequentialTrainConfig cfg{b.cfg.epochs, b.cfg.batch, b.cfg.seed, b.optimizer, b.proximalMu};
      b.stats = self->cuda_ ? qm::gpu::train(*self->seq_, b.data, cfg, report) : self->seq_->train(b.data, cfg, report);
      return;
    }
    b.stats = self->cuda_ ? qm::gpu::train(*self->net_, b.data, b.cfg, report) : self->net_->train(b.data, b.cfg, report);
  }

  // train(x, y, count, features, {epochs, batchSize, lr, momentum, seed, optimizer?, nesterov?,
  // weightDecay?, beta1?, beta2?, eps?, proximalMu?}, onProgress?); the dense engine runs plain and
  // momentum SGD only.
  Napi::Value Train(const Napi::CallbackInfo& info) {
    RunBaton b = baton(info, true);
    if (!info[4].IsObject()) throwError(info.Env(), "BAD_ARGUMENT", "opts", "opts must be an object");
    Napi::Object o = info[4].As<Napi::Object>();
    size_t epochs = count(o.Get("epochs"), "epochs");
    if (epochs > static_cast<size_t>(std::numeric_limits<int>::max())) throwError(info.Env(), "BAD_ARGUMENT", "epochs", "epochs is too large");
    b.cfg.epochs = static_cast<int>(epochs);
    b.cfg.batch = count(o.Get("batchSize"), "batchSize");
    b.cfg.lr = number(o.Get("lr"), "lr");
    b.cfg.momentum = number(o.Get("momentum"), "momentum");
    b.cfg.seed = static_cast<uint64_t>(number(o.Get("seed"), "seed"));
    if (b.cfg.batch == 0) throwError(info.Env(), "BAD_ARGUMENT", "batchSize", "batchSize must be positive");
    qm::OptimizerConfig& opt = b.optimizer;
    opt.kind = optimizerKind(o.Get("optimizer"));
    opt.lr = b.cfg.lr;
    opt.momentum = b.cfg.momentum;
    opt.nesterov = flag(o.Get("nesterov"));
    opt.weightDecay = numberOr(o.Get("weightDecay"), "weightDecay", 0);
    opt.beta1 = numberOr(o.Get("beta1"), "beta1", opt.beta1);
    opt.beta2 = numberOr(o.Get("beta2"), "beta2", opt.beta2);
    opt.eps = numberOr(o.Get("eps"), "eps", opt.eps);
    b.proximalMu = numberOr(o.Get("proximalMu"), "proximalMu", 0);
    if (!seq_ && (opt.kind != qm::OptimizerKind::Sgd || opt.nesterov || opt.weightDecay != 0 || b.proximalMu != 0))
      throwError(info.Env(), "BAD_ARGUMENT", "optimizer", "the dense engine trains with plain or momentum SGD only: build the network as a Sequential model");
    if (seq_) qm::Optimizer(opt, 0);  // checks the settings now, before any work is queued
    if (info[5].IsFunction()) b.progress = Napi::ThreadSafeFunction::New(info.Env(), info[5].As<Napi::Function>(), "quackmesh-progress", 0, 1);
    return start(info.Env(), std::move(b), runTrain, settleStats);
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    RunBaton b = baton(info, true);
    return start(
        info.Env(), std::move(b),
        [](RunBaton& r) {
          if (r.self->seq_) r.stats = r.self->cuda_ ? qm::gpu::evaluate(*r.self->seq_, r.data) : r.self->seq_->evaluate(r.data);
          else r.stats = r.self->cuda_ ? qm::gpu::evaluate(*r.self->net_, r.data) : r.self->net_->evaluate(r.data);
        },
        settleStats);
  }

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    RunBaton b = baton(info, false);
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), b.data.count * classes());
    b.out = out.Data();
    b.outRef = Napi::Persistent(out.As<Napi::Object>());
    return start(
        info.Env(), std::move(b),
        [](RunBaton& r) {
          if (r.self->seq_ && r.self->cuda_) qm::gpu::predict(*r.self->seq_, r.data.x, r.data.count, r.out);
          else if (r.self->seq_) r.self->seq_->predict(r.data.x, r.data.count, r.out);
          else r.self->net_->predict(r.data.x, r.data.count, r.out);
        },
        [](Napi::Env, RunBaton& r) -> Napi::Value { return r.outRef.Value(); });
  }

  // Queues the call; the network is busy until finishRun, which runs however the call ends.
  Napi::Promise start(Napi::Env env, RunBaton&& b, BatonWorker<RunBaton>::Run run, BatonWorker<RunBaton>::Settle settle) {
    Napi::Promise p = BatonWorker<RunBaton>::start(env, std::move(b), run, settle, finishRun);
    busy_ = true;  // settles only after this JS call returns, so no window where it is wrongly idle
    return p;
  }

  size_t inputs() const { return seq_ ? seq_->inputs() : net_->inputs(); }
  size_t classes() const { return seq_ ? seq_->classes() : net_->classes(); }

  std::unique_ptr<qm::Mlp> net_;
  std::unique_ptr<qm::Sequential> seq_;
  bool cuda_ = false;
  std::atomic<bool> busy_{false};
};

void registerNetwork(Napi::Env env, Napi::Object exports) { exports.Set("Network", NetworkWrap::define(env)); }

}  // namespace qmjs
