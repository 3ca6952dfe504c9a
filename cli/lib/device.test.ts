// `--device cuda` without a GPU is refused before any work, with a fix (issue 16, finding 9).
import t from "tap";
import { deviceInfo } from "../../native/device.js";
import { localDevice } from "./flags.js";
import { trainSettingsFrom } from "./contribute/trainFlags.js";

const flags = { device: "cuda", holdout: "0.1" };

t.test("cuda where none is usable: CUDA_UNAVAILABLE with a fix, at flag parsing", async (t) => {
  if (deviceInfo().cuda) {
    t.equal(localDevice("cuda"), "cuda", "a machine with a GPU keeps cuda");
    t.equal(trainSettingsFrom(flags).device, "cuda");
    return;
  }
  t.throws(() => localDevice("cuda"), { code: "CUDA_UNAVAILABLE", message: /--device cuda/, fix: /--device cpu.*--device auto/ });
  t.throws(() => trainSettingsFrom(flags), { code: "CUDA_UNAVAILABLE" }, "contribute and worker parse it with their other flags, before any network call");
});

t.test("cpu and auto pass on any machine", async (t) => {
  t.equal(localDevice("cpu"), "cpu");
  t.equal(localDevice("auto"), "auto");
});
