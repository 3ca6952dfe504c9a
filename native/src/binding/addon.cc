#include <napi.h>

#include "binding/bindings.h"
#include "binding/js.h"
#include "core/gpu.h"
#include "core/info.h"
#include "core/threads.h"

namespace {

Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  int gpus = qm::gpu::deviceCount();
  o.Set("version", qm::version());
  o.Set("cudaCompiled", qm::gpu::compiled());
  o.Set("cuda", gpus > 0);
  o.Set("gpus", gpus);
  if (gpus > 0) o.Set("gpuName", qm::gpu::deviceName());
  o.Set("threads", qm::threadCount());
  o.Set("simd", qm::simd());
  return o;
}

Napi::Value Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), qm::version()); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return qmjs::guard(env, [&] {
    exports.Set("version", Napi::Function::New(env, qmjs::guarded<Version>));
    exports.Set("deviceInfo", Napi::Function::New(env, qmjs::guarded<DeviceInfo>));
    qmjs::registerAggregate(env, exports);
    qmjs::registerNetwork(env, exports);
    return exports;
  });
}

}  // namespace

NODE_API_MODULE(quackmesh_native, Init)
