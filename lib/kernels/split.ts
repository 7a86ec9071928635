/**
 * SplitV on wasm as row copies. tfjs-wasm splits by one strided Slice per part, 0.6-1 GB/s here on
 * the splits training makes (GEGLU's [h, gate] halves, and the gradient of every skip-connection
 * concat); each part is a run of `size·inner` contiguous floats per outer index, copied whole.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WasmHeap } from "./heap";

/** outs[k] ← the k-th run of sizes[k]·inner floats out of every (sum of sizes)·inner of src. */
export function splitRows(
  src: Float32Array,
  outer: number,
  inner: number,
  sizes: number[],
  outs: Float32Array[],
): void {
  const row = sizes.reduce((a, b) => a + b, 0) * inner;
  let off = 0;
  sizes.forEach((s, k) => {
    const len = s * inner;
    const dst = outs[k];
    if (len >= 16) {
      for (let o = 0; o < outer; o++) dst.set(src.subarray(o * row + off, o * row + off + len), o * len);
    } else {
      for (let o = 0, d = 0; o < outer; o++) for (let i = 0, p = o * row + off; i < len; i++) dst[d++] = src[p + i];
    }
    off += len;
  });
}

/** The wasm SplitV kernel, replaced for float32 inputs; the rest native. */
export function splitVKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "SplitV",
    backendName: "wasm",
    kernelFunc: (args): tf.TensorInfo[] => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype !== "float32") return native(args) as tf.TensorInfo[];
      const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
      const outer = tf.util.sizeFromShape(x.shape.slice(0, ax));
      const inner = tf.util.sizeFromShape(x.shape.slice(ax + 1));
      const be = args.backend as unknown as WasmHeap;
      const outs = sizes.map((s) =>
        be.makeOutput(
          x.shape.map((d, i) => (i === ax ? s : d)),
          "float32",
        ),
      );
      // the outputs are made first: an allocation can grow the heap and detach earlier views
      splitRows(
        be.typedArrayFromHeap(x) as Float32Array,
        outer,
        inner,
        sizes,
        outs.map((o) => be.typedArrayFromHeap(o) as Float32Array),
      );
      return outs;
    },
  };
}
