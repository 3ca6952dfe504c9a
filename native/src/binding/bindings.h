#pragma once
#include <napi.h>

namespace qmjs {
void registerAggregate(Napi::Env env, Napi::Object exports);
void registerNetwork(Napi::Env env, Napi::Object exports);
}  // namespace qmjs
