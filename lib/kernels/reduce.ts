/**
 * Sum over leading axes on the wasm backend, without the transpose. tfjs-wasm's Sum reduces only
 * innermost axes, so any other reduction first transposes the whole input (about 5 ns an element
 * here): every bias gradient (Σ over batch and pixels of a [B, H, W, C] or [B, T, C] gradient) pays
 * it. Summing rows into a float64 accumulator row instead reads the input once, in memory order.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WasmHeap } from "./heap";
import { reduceModule, simdSupported } from "./simd/modules";

/**
 * The number of leading axes `axis` names when it is exactly [0, k) of a rank-r tensor with
 * 0 < k < r (any order, negatives allowed), else 0.
 */
export function leadingAxes(axis: number | number[], rank: number): number {
  const list = tf.util.parseAxisParam(
    axis,
    Array.from({ length: rank }, () => 1),
  );
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted.length >= rank || sorted.length !== list.length) return 0;
  return sorted.every((a, i) => a === i) ? sorted.length : 0;
}

let useSimd = simdSupported;
/** Whether `sumRows` takes the WebAssembly SIMD kernel (lib/kernels/simd/reduce.wat) where cols is a multiple of 4; tests compare. */
export function setSimdSum(on: boolean): void {
  useSimd = on && simdSupported;
}

/**
 * out[c] = Σ_r x[r·cols + c] in float64 in row order, rounded once: in SIMD (the input copied into
 * the module's memory, where it fits; 6-10× the loop below) or in JavaScript; the same sums either way.
 */
export function sumRows(x: ArrayLike<number>, rows: number, cols: number, out: Float32Array): void {
  const n = rows * cols;
  const sums = Math.ceil((4 * n) / 16) * 16; // byte offset of the float64 sums, after x
  const mod = useSimd && cols % 4 === 0 ? reduceModule() : null;
  if (mod && x instanceof Float32Array && mod.reserve(sums + 8 * cols)) {
    mod.f32.set(x.subarray(0, n), 0);
    mod.exports.colsum(0, rows, cols, sums);
    out.set(mod.f64.subarray(sums / 8, sums / 8 + cols));
    return;
  }
  const acc = new Float64Array(cols);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) acc[c] += x[o + c];
  }
  out.set(acc);
}

/** The wasm Sum kernel, replaced: leading-axis float32 reductions in `sumRows`, the rest native. */
export function sumKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "Sum",
    backendName: "wasm",
    kernelFunc: (args): tf.TensorInfo => {
      const x = args.inputs.x as tf.TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const k = x.dtype === "float32" ? leadingAxes(axis, x.shape.length) : 0;
      const size = tf.util.sizeFromShape(x.shape);
      if (k === 0 || size === 0) return native(args) as tf.TensorInfo;
      const rest = x.shape.slice(k);
      const be = args.backend as unknown as WasmHeap;
      const out = be.makeOutput(keepDims ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest, "float32");
      const cols = tf.util.sizeFromShape(rest);
      // the output is made first: an allocation can grow the heap and detach earlier views
      sumRows(be.typedArrayFromHeap(x), size / cols, cols, be.typedArrayFromHeap(out) as Float32Array);
      return out;
    },
  };
}
