/**
 * The input of an inference job: `count` samples of the model's input size, as float32
 * little-endian values, row-major, already scaled as the model was trained (pixels in [0, 1];
 * the model's own input standardization is applied by the engine).
 */
import { ApiError } from "../errors.js";

export function decodeInput(body: Buffer, count: number, features: number): Float32Array {
  const want = count * features * 4;
  if (body.length !== want) {
    const fits = body.length % (features * 4) === 0 ? ` (it holds ${body.length / (features * 4)} samples)` : "";
    throw new ApiError(
      "INVALID_INPUT",
      `The body has ${body.length} bytes but ${count} samples of ${features} float32 features need ${want}${fits}.`,
      { bytes: body.length, expectedBytes: want, count, features },
    );
  }
  // Copied into its own buffer: a Float32Array needs 4-byte alignment; values are little-endian.
  const x = new Float32Array(count * features);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let i = 0; i < x.length; i++) {
    const v = view.getFloat32(i * 4, true);
    if (!Number.isFinite(v)) {
      throw new ApiError("INVALID_INPUT", `Sample ${Math.floor(i / features)}, feature ${i % features} is ${v}; send finite numbers.`, {
        sample: Math.floor(i / features),
        feature: i % features,
      });
    }
    x[i] = v;
  }
  return x;
}

/** Float32 little-endian bytes of `x`, the body the client sends. */
export function encodeInput(x: Float32Array): Buffer {
  const out = Buffer.alloc(x.length * 4);
  for (let i = 0; i < x.length; i++) out.writeFloatLE(x[i], i * 4);
  return out;
}

/** Index of the largest value of each row: the predicted class. */
export function argmaxRows(p: Float32Array, classes: number): number[] {
  const count = p.length / classes;
  const out = new Array<number>(count);
  for (let r = 0; r < count; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[r * classes + c] > p[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

/** Longest SSH private key a cluster request may carry. */
const MAX_KEY_BYTES = 16 * 1024;

/**
 * The body of a cluster inference request: the rentals' SSH private key, then the samples.
 * Layout: key length (uint32 LE), the key (OpenSSH text, UTF-8), the float32 LE samples; one
 * body, so the request's signature covers the key and the input together. A key of length 0
 * asks for the training job's own cluster key, which the orchestrator holds.
 */
export function encodeClusterBody(privateKey: string, x: Float32Array): Buffer {
  const key = Buffer.from(privateKey, "utf8");
  const head = Buffer.alloc(4);
  head.writeUInt32LE(key.length, 0);
  return Buffer.concat([head, key, encodeInput(x)]);
}

export function decodeClusterBody(body: Buffer): { privateKey: string; samples: Buffer } {
  const length = body.length >= 4 ? body.readUInt32LE(0) : -1;
  if (length < 0 || length > MAX_KEY_BYTES || body.length < 4 + length) {
    throw new ApiError("INVALID_INPUT", `The body must start with the SSH private key's length (uint32 LE, 0 to ${MAX_KEY_BYTES}) and the key, then the samples; it starts with ${length < 0 ? "fewer than 4 bytes" : `length ${length}`}.`);
  }
  return { privateKey: body.subarray(4, 4 + length).toString("utf8"), samples: body.subarray(4 + length) };
}
