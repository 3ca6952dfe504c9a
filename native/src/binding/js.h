#pragma once
// Translation between JavaScript values and the numeric core: argument checks, error objects
// carrying `code` and `argument`, and a Promise-returning worker around a plain baton struct.
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "core/aggregate.h"
#include "core/error.h"

namespace qmjs {

/** What went wrong off the JS thread, copied out of the exception so it outlives it. */
struct Failure {
  bool set = false;
  std::string code, argument, message;
};

Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& argument, const std::string& message);
[[noreturn]] void throwError(Napi::Env env, const std::string& code, const std::string& argument, const std::string& message);

/** Runs fn, turning any exception into a Failure. */
void capture(Failure& failure, const std::function<void()>& fn);

// Argument readers: each throws BAD_ARGUMENT naming `name` when the value has the wrong type.
Napi::Float32Array float32Array(const Napi::Value& v, const std::string& name);
double number(const Napi::Value& v, const std::string& name);
size_t count(const Napi::Value& v, const std::string& name);
bool flag(const Napi::Value& v);
std::string deviceName(const Napi::Value& v);

/**
 * A new Float32Array for a large result. Its memory is ours (64-byte aligned, huge pages advised)
 * and freed when the array is collected: a fresh 40 MB array in 4 KB pages costs about as much
 * in page faults as averaging into it.
 */
Napi::Float32Array outputArray(Napi::Env env, size_t n);

/** Float32Array[] → spans, keeping a reference to each array for as long as `keep` lives. */
std::vector<qm::Span> inputs(const Napi::Value& v, const std::string& name, std::vector<Napi::ObjectReference>& keep);

/**
 * A Promise around one baton. `run` executes on a libuv worker thread and may touch only the
 * baton (plain C++ data, including spans into JS buffers kept alive by `keep`); `settle` runs on
 * the JS thread and builds the resolved value.
 */
template <class Baton>
class BatonWorker : public Napi::AsyncWorker {
 public:
  using Run = void (*)(Baton&);
  using Settle = Napi::Value (*)(Napi::Env, Baton&);

  static Napi::Promise start(Napi::Env env, Baton&& baton, Run run, Settle settle) {
    auto* w = new BatonWorker(env, std::move(baton), run, settle);
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  BatonWorker(Napi::Env env, Baton&& baton, Run run, Settle settle)
      : Napi::AsyncWorker(env, "quackmesh"), deferred_(Napi::Promise::Deferred::New(env)), baton_(std::move(baton)), run_(run), settle_(settle) {}

  void Execute() override { capture(baton_.failure, [this] { run_(baton_); }); }
  void OnOK() override {
    Napi::Env env = Env();
    if (baton_.failure.set) {
      deferred_.Reject(makeError(env, baton_.failure.code, baton_.failure.argument, baton_.failure.message).Value());
      return;
    }
    try {
      deferred_.Resolve(settle_(env, baton_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Baton baton_;
  Run run_;
  Settle settle_;
};

}  // namespace qmjs
