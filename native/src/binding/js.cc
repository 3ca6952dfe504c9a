#include "binding/js.h"

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <exception>
#include <new>
#include <stdexcept>

namespace qmjs {

Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& argument, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  if (!argument.empty()) e.Set("argument", Napi::String::New(env, argument));
  return e;
}

void throwError(Napi::Env env, const std::string& code, const std::string& argument, const std::string& message) {
  throw makeError(env, code, argument, message);
}

namespace {

Failure describeCurrent(const char* badArgument) {
  try {
    throw;
  } catch (const qm::NumericError& e) {
    return {true, e.code(), e.argument(), e.what()};
  } catch (const Napi::Error&) {
    // reading its message needs the JS thread, and this may run on a worker
    return {true, "INTERNAL", "", "internal error in the native engine: a JavaScript error where none was expected"};
  } catch (const std::bad_alloc&) {
    return {true, "OUT_OF_MEMORY", "", "not enough memory for this operation"};
  } catch (const std::length_error& e) {
    return {true, badArgument, "", std::string("a size is too large: ") + e.what()};
  } catch (const std::invalid_argument& e) {
    return {true, badArgument, "", std::string("invalid argument: ") + e.what()};
  } catch (const std::out_of_range& e) {
    return {true, badArgument, "", std::string("out of range: ") + e.what()};
  } catch (const std::exception& e) {
    return {true, "INTERNAL", "", std::string("internal error in the native engine: ") + e.what()};
  } catch (...) {
    return {true, "INTERNAL", "", "internal error in the native engine: an unknown exception"};
  }
}

}  // namespace

Failure currentFailure(const char* badArgument) noexcept {
  try {
    return describeCurrent(badArgument);
  } catch (...) {
    // no memory even for the message: a code that fits in std::string's inline buffer
    Failure f;
    f.set = true;
    f.code = "OUT_OF_MEMORY";
    return f;
  }
}

void capture(Failure& failure, const std::function<void()>& fn) {
  try {
    fn();
  } catch (...) {
    failure = currentFailure();
  }
}

Napi::Float32Array float32Array(const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwError(v.Env(), "BAD_ARGUMENT", name, name + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

double number(const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) throwError(v.Env(), "BAD_ARGUMENT", name, name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

size_t count(const Napi::Value& v, const std::string& name) {
  double d = number(v, name);
  if (!(d >= 0) || d != std::floor(d) || d > 9007199254740991.0)
    throwError(v.Env(), "BAD_ARGUMENT", name, name + " must be a non-negative integer");
  return static_cast<size_t>(d);
}

bool flag(const Napi::Value& v) { return v.IsBoolean() && v.As<Napi::Boolean>().Value(); }

std::string deviceName(const Napi::Value& v) {
  std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (d != "cpu" && d != "cuda") throwError(v.Env(), "BAD_ARGUMENT", "device", "device must be \"cpu\" or \"cuda\" here");
  return d;
}

Napi::Float32Array outputArray(Napi::Env env, size_t n) {
  constexpr size_t kHuge = 2u << 20;
  size_t bytes = n * sizeof(float);
  if (bytes < kHuge) return Napi::Float32Array::New(env, n);
  size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, rounded);
  if (!p) throwError(env, "OUT_OF_MEMORY", "", "cannot allocate " + std::to_string(bytes) + " bytes for the result");
  if (!std::getenv("QUACKMESH_NO_HUGEPAGES")) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: ignored where THP is off
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(rounded));
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, p, bytes, [rounded](Napi::Env e, void* data) {
    std::free(data);
    Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(rounded));
  });
  return Napi::Float32Array::New(env, n, buf, 0);
}

std::vector<qm::Span> inputs(const Napi::Value& v, const std::string& name, std::vector<Napi::ObjectReference>& keep) {
  if (!v.IsArray()) throwError(v.Env(), "BAD_ARGUMENT", name, name + " must be an array of Float32Array");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<qm::Span> spans;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Float32Array a = float32Array(arr.Get(i), name + "[" + std::to_string(i) + "]");
    spans.push_back({a.Data(), a.ElementLength()});
    keep.push_back(Napi::Persistent(a.As<Napi::Object>()));
  }
  return spans;
}

}  // namespace qmjs
