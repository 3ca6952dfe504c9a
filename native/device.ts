/** Device selection shared by the facade's functions. */
import { addon, callSync, type NativeDevice } from "./addon.js";
import { describe, fail } from "./errors.js";
import type { Device } from "./types.js";

export interface DeviceInfo {
  version: string;
  cuda: boolean;
  gpus: number;
  gpuName?: string;
  threads: number;
  simd: string;
}

/** What this machine offers the engine: CUDA (built in and a GPU present), CPU threads and SIMD level. */
export function deviceInfo(): DeviceInfo {
  const raw = callSync(() => addon().deviceInfo());
  const info: DeviceInfo = { version: raw.version, cuda: raw.cuda, gpus: raw.gpus, threads: raw.threads, simd: raw.simd };
  if (raw.gpuName) info.gpuName = raw.gpuName;
  return info;
}

/** auto → cuda when usable, else cpu; cuda where none is usable → CUDA_UNAVAILABLE. */
export function resolveDevice(device: unknown, argument = "opts.device"): NativeDevice {
  if (device === undefined || device === "auto") return deviceInfo().cuda ? "cuda" : "cpu";
  if (device === "cpu") return "cpu";
  if (device !== "cuda") fail("BAD_ARGUMENT", argument, `${argument} must be "cpu", "cuda" or "auto", got ${describe(device)}`);
  const raw = callSync(() => addon().deviceInfo());
  if (!raw.cuda) {
    const why = raw.cudaCompiled ? "no CUDA GPU was found on this machine" : "this build of the addon has no CUDA support (rebuild where nvcc is installed)";
    fail("CUDA_UNAVAILABLE", argument, `${argument} is "cuda" but ${why}; use "cpu" or "auto"`);
  }
  return "cuda";
}
