import t from "tap";
import { Network, parameterShapes } from "../../../native/index.js";
import type { ModelSpec } from "../../../native/types.js";
import { specFromTensors } from "./spec.js";

const tensor = (name: string, shape: number[]) => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

t.test("the spec of a dense model comes back from its PyTorch-named tensors", async (t) => {
  const specs: ModelSpec[] = [
    { input: [784], layers: [{ type: "dense", units: 128, activation: "relu" }, { type: "dense", units: 10, activation: "none" }], loss: "cross-entropy" },
    { input: [20], layers: [{ type: "dense", units: 3, activation: "none" }], loss: "cross-entropy" },
    { input: [8], layers: [{ type: "dense", units: 6, activation: "none" }, { type: "dense", units: 5, activation: "relu" }, { type: "dense", units: 2, activation: "none" }], loss: "cross-entropy" },
  ];
  for (const spec of specs) t.same(specFromTensors(Network.create(spec, { seed: 1 }).weights()), spec);
  t.same(specFromTensors(parameterShapes(specs[0]).map((p) => tensor(p.name, p.shape)).reverse()), specs[0], "order does not matter");
});

t.test("anything else is refused with UNSUPPORTED_MODEL", async (t) => {
  t.throws(() => specFromTensors([tensor("conv.weight", [3, 3])]), { code: "UNSUPPORTED_MODEL", message: /conv\.weight/ });
  t.throws(() => specFromTensors([tensor("0.weight", [4, 8])]), { code: "UNSUPPORTED_MODEL", message: /bias/ });
  t.throws(() => specFromTensors([tensor("1.weight", [4, 8]), tensor("1.bias", [4])]), { code: "UNSUPPORTED_MODEL", message: /index 1/ });
  t.throws(() => specFromTensors([tensor("0.weight", [4, 8]), tensor("0.bias", [4]), tensor("2.weight", [3, 5]), tensor("2.bias", [3])]), { code: "UNSUPPORTED_MODEL", message: /takes 5 inputs/ });
  t.throws(() => specFromTensors([tensor("0.weight", [4, 8]), tensor("0.bias", [4]), tensor("5.weight", [3, 4]), tensor("5.bias", [3])]), { code: "UNSUPPORTED_MODEL", message: /apart/ });
  t.throws(() => specFromTensors([]), { code: "UNSUPPORTED_MODEL" });
});
