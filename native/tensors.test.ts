import t from "tap";
import { allFinite, flatten, l2Norm, sameLayout, unflatten } from "./tensors.js";
import type { Tensor } from "./types.js";

const model: Tensor[] = [
  { name: "0.weight", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  { name: "0.bias", shape: [2], data: new Float32Array([7, 8]) },
  { name: "2.weight", shape: [1, 2], data: new Float32Array([9, 10]) },
];

t.test("flatten concatenates in order and unflatten restores names, shapes and values", async (t) => {
  const flat = flatten(model);
  t.same(Array.from(flat), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const back = unflatten(flat, model);
  t.same(back.map((x) => [x.name, x.shape, Array.from(x.data)]), model.map((x) => [x.name, x.shape, Array.from(x.data)]));
  flat[0] = 100;
  t.equal(back[0].data[0], 1, "unflatten copies, it does not alias the flat vector");
  back[0].shape.push(1);
  t.same(model[0].shape, [2, 3], "shapes are copied too");
  t.equal(flatten([]).length, 0);
});

t.test("unflatten refuses a vector of the wrong length", async (t) => {
  t.throws(() => unflatten(new Float32Array(9), model), { code: "SIZE_MISMATCH", message: /9 values.*10 values/ });
  t.throws(() => unflatten(new Float32Array(11), model), { code: "SIZE_MISMATCH" });
  t.throws(() => unflatten(new Float32Array(2), [{ name: "w", shape: [-1, -2] }]), { code: "BAD_SHAPE", message: /'w'/ });
});

t.test("sameLayout names the first difference", async (t) => {
  t.equal(sameLayout(model, model.map((x) => ({ name: x.name, shape: [...x.shape] }))), null);
  t.match(sameLayout(model, [model[1], model[0], model[2]]), /tensor 0 is '0.bias'.*'0.weight'/);
  t.match(sameLayout(model, [model[0], { name: "0.bias", shape: [3] }, model[2]]), /'0.bias' has shape \[3\].*\[2\]/);
  t.match(sameLayout(model, [model[0], { name: "0.bias", shape: [2, 1] }, model[2]]), /'0.bias' has shape \[2, 1\]/);
  t.match(sameLayout(model, model.slice(0, 2)), /missing tensor '2.weight'/);
  t.match(sameLayout(model.slice(0, 1), model), /extra tensor '0.bias'/);
});

t.test("l2Norm over a vector or a model", async (t) => {
  t.equal(l2Norm(new Float32Array([3, 4])), 5);
  t.equal(l2Norm(new Float32Array(0)), 0);
  t.equal(l2Norm(model), Math.sqrt(385));
  t.equal(l2Norm(model), l2Norm(flatten(model)));
  // float64 accumulation: 1e6 ones must give exactly 1000
  t.equal(l2Norm(new Float32Array(1_000_000).fill(1)), 1000);
});

t.test("allFinite finds the first NaN or infinity", async (t) => {
  t.equal(allFinite(new Float32Array([0, -1, 3.4e38, -0])), -1);
  t.equal(allFinite(new Float32Array([0, 1, NaN, Infinity])), 2);
  t.equal(allFinite(new Float32Array([-Infinity])), 0);
  t.equal(allFinite(new Float32Array([1, 2, 3, Infinity])), 3);
  t.equal(allFinite(new Float32Array(0)), -1);
});
