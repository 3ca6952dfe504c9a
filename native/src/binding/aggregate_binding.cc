// fedAvg, median, trimmedMean, krum and the streaming Accumulator, as seen from JavaScript.
// The facade (native/index.ts) has validated the arguments already; these checks guard the
// memory the core touches.
#include <memory>

#include "binding/bindings.h"
#include "binding/js.h"
#include "core/aggregate.h"
#include "core/gpu.h"

namespace qmjs {
namespace {

enum class Method { FedAvg, Median, Trimmed, Krum };

struct AggregateBaton {
  Method method;
  bool cuda = false, checkFinite = false;
  std::vector<qm::Span> inputs;
  std::vector<Napi::ObjectReference> keep;  // the input arrays, alive until the worker is gone
  std::vector<double> weights;
  size_t trim = 0, f = 0, m = 1;
  Napi::ObjectReference outRef;  // a Float32Array made on the JS thread; the core fills it
  float* out = nullptr;
  std::vector<size_t> selected;
  Failure failure;
};

void runAggregate(AggregateBaton& b) {
  if (b.checkFinite) qm::checkFinite(b.inputs);
  switch (b.method) {
    case Method::FedAvg:
      b.cuda ? qm::gpu::fedAvg(b.inputs, b.weights, b.out) : qm::fedAvg(b.inputs, b.weights, b.out);
      break;
    case Method::Median:
      b.cuda ? qm::gpu::median(b.inputs, b.out) : qm::median(b.inputs, b.out);
      break;
    case Method::Trimmed:
      b.cuda ? qm::gpu::trimmedMean(b.inputs, b.trim, b.out) : qm::trimmedMean(b.inputs, b.trim, b.out);
      break;
    case Method::Krum: {
      b.selected = qm::krumSelect(b.inputs, b.f, b.m, nullptr);
      std::vector<double> ones(b.selected.size(), 1.0);
      std::vector<qm::Span> chosen;
      for (size_t i : b.selected) chosen.push_back(b.inputs[i]);
      b.cuda ? qm::gpu::fedAvg(chosen, ones, b.out) : qm::fedAvg(chosen, ones, b.out);
      break;
    }
  }
}

Napi::Value settleAggregate(Napi::Env env, AggregateBaton& b) {
  Napi::Value result = b.outRef.Value();
  if (b.method != Method::Krum) return result;
  Napi::Object o = Napi::Object::New(env);
  Napi::Array sel = Napi::Array::New(env, b.selected.size());
  for (size_t i = 0; i < b.selected.size(); i++) sel.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(b.selected[i])));
  o.Set("result", result);
  o.Set("selected", sel);
  return o;
}

// The caller's opts.out: as long as the inputs and sharing no byte with any of them, since the
// core reads every input at a coordinate after the output there may have been written.
Napi::Float32Array callerOutput(const Napi::Value& v, const std::vector<qm::Span>& inputs) {
  Napi::Float32Array out = float32Array(v, "opts.out");
  size_t n = inputs[0].size;
  if (out.ElementLength() != n)
    throwError(v.Env(), "LENGTH_MISMATCH", "opts.out", "opts.out has length " + std::to_string(out.ElementLength()) + " but the inputs have " + std::to_string(n));
  const float* o = out.Data();
  for (size_t i = 0; i < inputs.size(); i++)
    if (inputs[i].data < o + n && o < inputs[i].data + n)
      throwError(v.Env(), "BAD_ARGUMENT", "opts.out", "opts.out shares memory with inputs[" + std::to_string(i) + "]: pass a separate Float32Array for the result");
  return out;
}

// aggregate(method, inputs, options) where options = {device, checkFinite, weights?, trim?, f?, m?, out?}
Napi::Value Aggregate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string method = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (!info[2].IsObject()) throwError(env, "BAD_ARGUMENT", "opts", "opts must be an object");
  Napi::Object opts = info[2].As<Napi::Object>();
  AggregateBaton b;
  if (method == "fedAvg") b.method = Method::FedAvg;
  else if (method == "median") b.method = Method::Median;
  else if (method == "trimmedMean") b.method = Method::Trimmed;
  else if (method == "krum") b.method = Method::Krum;
  else throwError(env, "BAD_ARGUMENT", "method", "unknown aggregation method");
  b.inputs = inputs(info[1], "inputs", b.keep);
  if (b.inputs.empty()) throwError(env, "EMPTY_INPUT", "inputs", "inputs is empty: pass at least one Float32Array");
  size_t n = b.inputs[0].size;
  for (size_t i = 1; i < b.inputs.size(); i++)
    if (b.inputs[i].size != n)
      throwError(env, "LENGTH_MISMATCH", "inputs[" + std::to_string(i) + "]", "inputs[" + std::to_string(i) + "] has length " + std::to_string(b.inputs[i].size) + " but inputs[0] has " + std::to_string(n));
  b.cuda = deviceName(opts.Get("device")) == "cuda";
  b.checkFinite = flag(opts.Get("checkFinite"));
  if (b.method == Method::FedAvg) {
    Napi::Value w = opts.Get("weights");
    if (!w.IsArray()) throwError(env, "BAD_ARGUMENT", "weights", "weights must be an array of numbers");
    Napi::Array wa = w.As<Napi::Array>();
    for (uint32_t i = 0; i < wa.Length(); i++) b.weights.push_back(number(wa.Get(i), "weights[" + std::to_string(i) + "]"));
  }
  if (b.method == Method::Trimmed) b.trim = count(opts.Get("trim"), "trim");
  if (b.method == Method::Krum) {
    b.f = count(opts.Get("f"), "f");
    b.m = count(opts.Get("m"), "m");
  }
  Napi::Value given = b.method == Method::Krum ? env.Undefined() : opts.Get("out");
  Napi::Float32Array out = given.IsUndefined() ? outputArray(env, n) : callerOutput(given, b.inputs);
  b.out = out.Data();
  b.outRef = Napi::Persistent(out.As<Napi::Object>());  // held until the worker is gone, like the inputs
  return BatonWorker<AggregateBaton>::start(env, std::move(b), runAggregate, settleAggregate);
}

// memcpyBandwidth(bytes, repeats) → Promise<bytes moved per second>
struct CopyBaton {
  size_t bytes;
  int repeats;
  double result = 0;
  Failure failure;
};

Napi::Value MemcpyBandwidth(const Napi::CallbackInfo& info) {
  CopyBaton b{count(info[0], "bytes"), static_cast<int>(count(info[1], "repeats"))};
  return BatonWorker<CopyBaton>::start(
      info.Env(), std::move(b), [](CopyBaton& c) { c.result = qm::memcpyBandwidth(c.bytes, c.repeats); },
      [](Napi::Env env, CopyBaton& c) -> Napi::Value { return Napi::Number::New(env, c.result); });
}

// fedAvgResident(k, n, runs) → Promise<{ms, sample}>: the GPU kernel with inputs already on the device.
struct ResidentBaton {
  size_t k, n;
  int runs;
  double ms = 0;
  std::vector<float> sample;
  Failure failure;
};

Napi::Value FedAvgResident(const Napi::CallbackInfo& info) {
  ResidentBaton b{count(info[0], "k"), count(info[1], "n"), static_cast<int>(count(info[2], "runs"))};
  return BatonWorker<ResidentBaton>::start(
      info.Env(), std::move(b), [](ResidentBaton& r) { r.ms = qm::gpu::fedAvgResidentMs(r.k, r.n, r.runs, &r.sample); },
      [](Napi::Env env, ResidentBaton& r) -> Napi::Value { return Napi::Number::New(env, r.ms); });
}

}  // namespace

// ---- Accumulator ------------------------------------------------------------------------

class AccumulatorWrap : public Napi::ObjectWrap<AccumulatorWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Accumulator",
                       {InstanceMethod("add", &AccumulatorWrap::method<&AccumulatorWrap::Add>),
                        InstanceMethod("result", &AccumulatorWrap::method<&AccumulatorWrap::Result>)});
  }

  explicit AccumulatorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AccumulatorWrap>(info) {
    guard(info.Env(), [&] {
      length_ = count(info[0], "length");
      if (length_ == 0) throwError(info.Env(), "BAD_ARGUMENT", "length", "length must be a positive integer");
      if (deviceName(info[1]) == "cuda") gpu_ = qm::gpu::makeAccumulator(length_);
      else cpu_ = std::make_unique<qm::Accumulator>(length_);
    });
  }

 private:
  template <Napi::Value (AccumulatorWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value method(const Napi::CallbackInfo& info) {
    return guardedMethod<AccumulatorWrap, M>(this, info);
  }

  struct AddBaton {
    AccumulatorWrap* self;
    Napi::ObjectReference selfRef, xRef;
    qm::Span x;
    double weight;
    bool checkFinite;
    Failure failure;
  };
  struct ResultBaton {
    AccumulatorWrap* self;
    Napi::ObjectReference selfRef, outRef;
    float* out;
    double total;
    Failure failure;
  };

  Napi::Value Add(const Napi::CallbackInfo& info) {
    Napi::Float32Array x = float32Array(info[0], "x");
    if (x.ElementLength() != length_)
      throwError(info.Env(), "LENGTH_MISMATCH", "x", "x has length " + std::to_string(x.ElementLength()) + " but the accumulator holds " + std::to_string(length_));
    AddBaton b{this, Napi::Persistent(Value()), Napi::Persistent(x.As<Napi::Object>()), {x.Data(), x.ElementLength()}, number(info[1], "weight"), flag(info[2]), {}};
    return BatonWorker<AddBaton>::start(
        info.Env(), std::move(b),
        [](AddBaton& a) {
          if (a.checkFinite) qm::checkFinite({a.x}, "x");
          if (a.self->gpu_) a.self->gpu_->add(a.x.data, a.weight);
          else a.self->cpu_->add(a.x.data, a.weight);
        },
        [](Napi::Env env, AddBaton&) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value Result(const Napi::CallbackInfo& info) {
    Napi::Float32Array out = outputArray(info.Env(), length_);
    ResultBaton b{this, Napi::Persistent(Value()), Napi::Persistent(out.As<Napi::Object>()), out.Data(), number(info[0], "totalWeight"), {}};
    return BatonWorker<ResultBaton>::start(
        info.Env(), std::move(b),
        [](ResultBaton& r) {
          if (r.self->gpu_) r.self->gpu_->result(r.total, r.out);
          else r.self->cpu_->result(r.total, r.out);
        },
        [](Napi::Env, ResultBaton& r) -> Napi::Value { return r.outRef.Value(); });
  }

  size_t length_ = 0;
  std::unique_ptr<qm::Accumulator> cpu_;
  std::unique_ptr<qm::gpu::Accumulator> gpu_;
};

void registerAggregate(Napi::Env env, Napi::Object exports) {
  exports.Set("aggregate", Napi::Function::New(env, guarded<Aggregate>));
  exports.Set("memcpyBandwidth", Napi::Function::New(env, guarded<MemcpyBandwidth>));
  exports.Set("fedAvgResident", Napi::Function::New(env, guarded<FedAvgResident>));
  exports.Set("Accumulator", AccumulatorWrap::define(env));
}

}  // namespace qmjs
