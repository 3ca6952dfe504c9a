#pragma once
// Translation between JavaScript values and the numeric core: argument checks, error objects
// carrying `code` and `argument`, and a Promise-returning worker around a plain baton struct.
#include <napi.h>

#include <exception>
#include <functional>
#include <string>
#include <utility>
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

/**
 * The Failure for the exception being handled (call it only inside a catch block): a
 * NumericError keeps its code and argument; std::bad_alloc is OUT_OF_MEMORY; std::length_error,
 * std::invalid_argument and std::out_of_range are `badArgument` (BAD_ARGUMENT, or BAD_SPEC where
 * the call is about a model spec); anything else is INTERNAL.
 */
Failure currentFailure(const char* badArgument = "BAD_ARGUMENT") noexcept;

/** Runs fn, turning any exception into a Failure. */
void capture(Failure& failure, const std::function<void()>& fn);

/**
 * Runs fn on the JS thread and returns its result; no C++ exception leaves it but a Napi::Error
 * (which node-addon-api turns into a thrown JS error). Every entry point from JavaScript goes
 * through this, so a std::bad_alloc or any other exception never reaches std::terminate.
 */
template <class Fn>
auto guard(Napi::Env env, Fn&& fn, const char* badArgument = "BAD_ARGUMENT") -> decltype(fn()) {
  Failure f;
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    f = currentFailure(badArgument);
  }
  throw makeError(env, f.code, f.argument, f.message);
}

/** A function for Napi::Function::New that runs F under guard(). */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return F(info); });
}

/** An instance method for ObjectWrap::InstanceMethod that runs M under guard(). */
template <class T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::Value guardedMethod(T* self, const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return (self->*M)(info); });
}

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
 * the JS thread and builds the resolved value; `finish` (optional) runs on the JS thread before
 * the Promise settles either way, to release what the call held (a busy flag, a progress
 * callback). Whatever any of them throws rejects the Promise; nothing escapes to Node.
 */
template <class Baton>
class BatonWorker : public Napi::AsyncWorker {
 public:
  using Run = void (*)(Baton&);
  using Settle = Napi::Value (*)(Napi::Env, Baton&);
  using Finish = void (*)(Baton&);

  static Napi::Promise start(Napi::Env env, Baton&& baton, Run run, Settle settle, Finish finish = nullptr) {
    auto* w = new BatonWorker(env, std::move(baton), run, settle, finish);
    Napi::Promise p = w->deferred_.Promise();
    w->Queue();
    return p;
  }

 protected:
  BatonWorker(Napi::Env env, Baton&& baton, Run run, Settle settle, Finish finish)
      : Napi::AsyncWorker(env, "quackmesh"), deferred_(Napi::Promise::Deferred::New(env)), baton_(std::move(baton)), run_(run), settle_(settle), finish_(finish) {}

  void Execute() override { capture(baton_.failure, [this] { run_(baton_); }); }
  void OnOK() override {
    Napi::Env env = Env();
    runFinish();
    if (baton_.failure.set) {
      reject(baton_.failure);
      return;
    }
    Failure f;
    try {
      deferred_.Resolve(settle_(env, baton_));
      return;
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    } catch (...) {
      f = currentFailure();
    }
    reject(f);
  }
  void OnError(const Napi::Error& e) override {
    runFinish();
    deferred_.Reject(e.Value());
  }

 private:
  void runFinish() {
    if (!finish_) return;
    Finish f = finish_;
    finish_ = nullptr;
    try {
      f(baton_);
    } catch (...) {
      // releasing must not keep the Promise from settling
    }
  }
  void reject(const Failure& f) {
    Napi::Env env = Env();
    try {
      deferred_.Reject(makeError(env, f.code, f.argument, f.message).Value());
    } catch (...) {
      deferred_.Reject(Napi::Error::New(env, "the native call failed and its error could not be built").Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  Baton baton_;
  Run run_;
  Settle settle_;
  Finish finish_;
};

}  // namespace qmjs
