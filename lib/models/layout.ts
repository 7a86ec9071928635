/**
 * Torch ↔ tfjs weight layouts, on TypedArrays (no tensors: SD-1.5 is 4.3 GB in fp32, beyond what a
 * 4 GB WASM heap can hold twice).
 *
 *   conv2d: torch [out, in, kh, kw]  ↔  tfjs [kh, kw, in, out]   (torch.nn.Conv2d vs tf.conv2d filter)
 *   linear: torch [out, in]          ↔  tfjs [in, out]           (torch.nn.Linear computes x Wᵀ; tf.matMul(x, W))
 *   same:   identical
 */
import { numel } from "../io/safetensors";
import { ParamSpec, TorchLayout } from "./params";

export { numel };

function checkLength(data: ArrayLike<number>, shape: readonly number[], what: string): void {
  if (data.length !== numel(shape)) {
    throw new Error(`${what}: ${data.length} values do not fill shape [${shape.join(", ")}] (${numel(shape)} values)`);
  }
}

/** torch [o, i, h, w] → tfjs [h, w, i, o]. */
function convTorchToTfjs(src: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) dst[((y * kw + x) * i + b) * o + a] = src[((a * i + b) * kh + y) * kw + x];
  return dst;
}

/** tfjs [h, w, i, o] → torch [o, i, h, w]. */
function convTfjsToTorch(src: Float32Array, kh: number, kw: number, i: number, o: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) dst[((a * i + b) * kh + y) * kw + x] = src[((y * kw + x) * i + b) * o + a];
  return dst;
}

/** A 2-D transpose [rows, cols] → [cols, rows]. */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
  return dst;
}

/**
 * Values laid out in torch order for `spec` → tfjs order (a new array; "same" returns `data` itself).
 * `data` must hold numel(spec.shape) values.
 */
export function torchToTfjs(data: Float32Array, spec: ParamSpec): Float32Array {
  checkLength(data, spec.shape, spec.name);
  const s = spec.shape;
  switch (spec.layout) {
    case "conv2d":
      return convTorchToTfjs(data, s[3], s[2], s[0], s[1]);
    case "linear":
      return transpose2d(data, s[1], s[0]); // torch [out, in]
    case "same":
      return data;
  }
  return unknownLayout(spec);
}

/** Values in tfjs order for `spec` → torch order (a new array; "same" returns `data` itself). */
export function tfjsToTorch(data: Float32Array, spec: ParamSpec): Float32Array {
  checkLength(data, spec.shape, spec.name);
  const s = spec.shape;
  switch (spec.layout) {
    case "conv2d":
      return convTfjsToTorch(data, s[0], s[1], s[2], s[3]);
    case "linear":
      return transpose2d(data, s[0], s[1]); // tfjs [in, out]
    case "same":
      return data;
  }
  return unknownLayout(spec);
}

const LAYOUTS: TorchLayout[] = ["conv2d", "linear", "same"];
const RANKS: Record<TorchLayout, number | undefined> = { conv2d: 4, linear: 2, same: undefined };

function unknownLayout(spec: ParamSpec): never {
  throw new Error(`${spec.name}: unknown layout ${JSON.stringify(spec.layout)}; known: ${LAYOUTS.join(", ")}`);
}

/** Checks a spec's layout against its rank (conv2d needs 4 dims, linear 2). */
export function checkSpec(spec: ParamSpec): void {
  if (!LAYOUTS.includes(spec.layout)) unknownLayout(spec);
  const rank = RANKS[spec.layout];
  if (rank !== undefined && spec.shape.length !== rank) {
    throw new Error(`${spec.name}: layout ${spec.layout} needs a rank-${rank} shape, got [${spec.shape.join(", ")}]`);
  }
  if (!spec.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${spec.name}: shape [${spec.shape.join(", ")}] must hold non-negative integers`);
  }
}
