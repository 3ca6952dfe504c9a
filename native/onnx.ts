/**
 * ONNX export: a model spec and its weights → one ONNX model (opset 13), the network as
 * `quackmesh infer` runs it: the spec's input standardization, every layer (dropout is the
 * identity at inference and left out), and for a classifier a softmax at the end, so the output
 * is class probabilities. Input `input` [batch, ...spec.input] with a dynamic batch dimension;
 * output `probabilities` [batch, classes] (cross-entropy) or `outputs` [batch, outputs] (mse).
 * Opset 13 so that older runtimes load it too: GELU is written as its erf formula.
 */
import protobuf from "protobufjs";
import { QuackError } from "../protocol/errors.js";
import { hw, planLayers, type LayerPlan } from "../protocol/spec.js";
import { validateSpec } from "./spec.js";
import type { ModelSpec, Tensor } from "./types.js";

/** The ONNX messages the export writes, with the field numbers of onnx/onnx.proto (IR version 7). */
const ONNX_PROTO = `
syntax = "proto3";
package onnx;
message AttributeProto { string name = 1; int32 type = 20; float f = 2; int64 i = 3; repeated int64 ints = 8; }
message ValueInfoProto { string name = 1; TypeProto type = 2; }
message NodeProto { repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4; repeated AttributeProto attribute = 5; }
message StringStringEntryProto { string key = 1; string value = 2; }
message GraphProto { repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; }
message TensorProto { repeated int64 dims = 1; int32 data_type = 2; string name = 8; bytes raw_data = 9; }
message TensorShapeProto { message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } } repeated Dimension dim = 1; }
message TypeProto { message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; } oneof value { Tensor tensor_type = 1; } }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message ModelProto { int64 ir_version = 1; string producer_name = 2; string producer_version = 3; string doc_string = 6; GraphProto graph = 7; repeated OperatorSetIdProto opset_import = 8; repeated StringStringEntryProto metadata_props = 14; }
`;

export const ONNX_OPSET = 13;
const IR_VERSION = 7; // the IR of ONNX 1.8, the release that brought opset 13
const FLOAT = 1; // TensorProto.DataType
const ATTR_INT = 2, ATTR_INTS = 7; // AttributeProto.AttributeType
export const ONNX_INPUT = "input";
/** The graph's output name: class probabilities (cross-entropy) or the raw outputs (mse). */
export const onnxOutputName = (spec: Pick<ModelSpec, "loss">): string => (spec.loss === "mse" ? "outputs" : "probabilities");

let modelType: protobuf.Type | undefined;
/** The ModelProto type, parsed from ONNX_PROTO once; exported for tests that read a model back. */
export function onnxModelType(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return modelType;
}

type Attribute = { name: string; type: number; i?: number; ints?: number[] };
const ints = (name: string, values: number[]): Attribute => ({ name, type: ATTR_INTS, ints: values });
const int = (name: string, value: number): Attribute => ({ name, type: ATTR_INT, i: value });

/** Nodes and initializers in topological order; each value gets a fresh name. */
class GraphBuilder {
  readonly nodes: Array<{ input: string[]; output: string[]; name: string; op_type: string; attribute: Attribute[] }> = [];
  readonly initializers: Array<{ name: string; dims: number[]; data_type: number; raw_data: Uint8Array }> = [];
  #count = 0;

  node(op: string, input: string[], attribute: Attribute[] = [], output = `${op.toLowerCase()}_${this.#count}`): string {
    this.nodes.push({ input, output: [output], name: `${op}_${this.#count++}`, op_type: op, attribute });
    return output;
  }

  constant(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, data_type: FLOAT, raw_data: littleEndian(data) });
    return name;
  }

  scalar(name: string, value: number): string {
    return this.constant(name, [], Float32Array.of(value));
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** raw_data holds float32 values little-endian whatever this machine's byte order. */
function littleEndian(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new DataView(new ArrayBuffer(data.length * 4));
  data.forEach((v, i) => out.setFloat32(i * 4, v, true));
  return new Uint8Array(out.buffer);
}

/** The tensors by name, each checked against what the spec's layers hold; SHAPE_MISMATCH otherwise. */
function checkedTensors(plan: LayerPlan[], tensors: Tensor[]): Map<string, Tensor> {
  const expected = plan.flatMap((p) => p.params);
  const list = expected.map((p) => `${p.name} [${p.shape.join(", ")}]`).join(", ");
  const mismatch = (message: string) => new QuackError("SHAPE_MISMATCH", message, { fix: `Export the weights this spec trains: ${list}.` });
  const byName = new Map<string, Tensor>();
  for (const t of tensors) {
    if (byName.has(t.name)) throw mismatch(`Tensor ${t.name} appears twice.`);
    if (!expected.some((p) => p.name === t.name)) throw mismatch(`Tensor ${t.name} is not part of this model.`);
    byName.set(t.name, t);
  }
  for (const p of expected) {
    const t = byName.get(p.name);
    if (!t) throw mismatch(`Tensor ${p.name} is missing.`);
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]) || !(t.data instanceof Float32Array) || t.data.length !== size) {
      throw mismatch(`Tensor ${p.name} has shape [${t.shape.join(", ")}] (${t.data.length} values) but the model needs [${p.shape.join(", ")}].`);
    }
  }
  return byName;
}

/** One spec layer's nodes after `x`; returns the layer's output value. */
function addLayer(g: GraphBuilder, plan: LayerPlan, layer: ModelSpec["layers"][number], x: string, weights: Map<string, Tensor>): string {
  const param = (i: number) => {
    const { name, shape } = plan.params[i];
    return g.constant(name, shape, weights.get(name)!.data);
  };
  switch (layer.type) {
    case "dense": {
      // Gemm takes [batch, features]: an input of more than one axis is flattened as nn.Linear's caller does.
      const rows = plan.inShape.length > 1 ? g.node("Flatten", [x], [int("axis", 1)]) : x;
      const y = g.node("Gemm", [rows, param(0), param(1)], [int("transB", 1)]);
      return layer.activation === "relu" ? g.node("Relu", [y]) : y;
    }
    case "conv2d": {
      const [ph, pw] = hw(layer.padding ?? 0);
      return g.node("Conv", [x, param(0), param(1)], [ints("kernel_shape", hw(layer.kernel)), ints("strides", hw(layer.stride ?? 1)), ints("pads", [ph, pw, ph, pw])]);
    }
    case "maxpool2d":
    case "avgpool2d":
      return g.node(layer.type === "maxpool2d" ? "MaxPool" : "AveragePool", [x], [ints("kernel_shape", hw(layer.kernel)), ints("strides", hw(layer.stride ?? layer.kernel))]);
    case "flatten":
      return g.node("Flatten", [x], [int("axis", 1)]);
    case "dropout":
      return x;
    case "relu":
      return g.node("Relu", [x]);
    case "tanh":
      return g.node("Tanh", [x]);
    case "sigmoid":
      return g.node("Sigmoid", [x]);
    case "gelu": {
      // The exact GELU, x · ½ · (1 + erf(x / √2)), as nn.GELU() and the engine compute it.
      const erf = g.node("Erf", [g.node("Div", [x, "gelu.sqrt2"])]);
      return g.node("Mul", [g.node("Mul", [x, g.node("Add", [erf, "gelu.one"])]), "gelu.half"]);
    }
  }
}

/**
 * The ONNX model of `spec` holding `tensors` (PyTorch state-dict names, as training gives them).
 * Throws BAD_SPEC for a spec the engine refuses and SHAPE_MISMATCH for tensors that do not fit it.
 */
export function encodeOnnx(spec: ModelSpec, tensors: Tensor[], opts: { producerVersion?: string; docString?: string } = {}): Uint8Array {
  const clean = validateSpec(spec, { regression: true });
  const plan = planLayers(clean);
  const weights = checkedTensors(plan, tensors);
  const g = new GraphBuilder();
  if (clean.layers.some((l) => l.type === "gelu")) {
    g.scalar("gelu.sqrt2", Math.SQRT2);
    g.scalar("gelu.one", 1);
    g.scalar("gelu.half", 0.5);
  }
  let x = ONNX_INPUT;
  if (clean.normalize) {
    // The engine standardizes inputs as (x − mean) / std before the first layer; so does the graph.
    x = g.node("Sub", [x, g.scalar("normalize.mean", clean.normalize.mean)]);
    x = g.node("Mul", [x, g.scalar("normalize.inv_std", 1 / clean.normalize.std)]);
  }
  clean.layers.forEach((layer, i) => (x = addLayer(g, plan[i], layer, x, weights)));
  const output = onnxOutputName(clean);
  if (clean.loss === "cross-entropy") g.node("Softmax", [x], [int("axis", 1)], output);
  else g.node("Identity", [x], [], output);

  const tensorType = (dims: Array<number | string>) => ({
    tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === "string" ? { dim_param: d } : { dim_value: d })) } },
  });
  const outputs = plan[plan.length - 1].outShape;
  const model = {
    ir_version: IR_VERSION,
    producer_name: "quackmesh",
    producer_version: opts.producerVersion ?? "",
    doc_string: opts.docString ?? "",
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    metadata_props: [{ key: "quackmesh.spec", value: JSON.stringify(clean) }],
    graph: {
      name: "quackmesh",
      node: g.nodes,
      initializer: g.initializers,
      input: [{ name: ONNX_INPUT, type: tensorType(["batch", ...clean.input]) }],
      output: [{ name: output, type: tensorType(["batch", ...outputs]) }],
    },
  };
  const type = onnxModelType();
  return type.encode(type.fromObject(model)).finish();
}
