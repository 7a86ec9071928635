/**
 * UnsortedSegmentSum for the wasm backend (which has none): the gradient of `tf.gather`, i.e. of
 * every embedding lookup. out[s] = sum of x[i] over the i with segmentIds[i] = s (TF semantics:
 * ids outside [0, numSegments) are dropped). A JS loop over the wasm heap: the op is a single
 * pass over memory, so a loop is as fast as a native kernel would be.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export const unsortedSegmentSumWasm: tf.KernelConfig = {
  kernelName: "UnsortedSegmentSum",
  backendName: "wasm",
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
    const numSegments = attrs!.numSegments as number;
    const be = backend as BackendWasm;
    if (x.dtype !== "float32") throw new Error(`UnsortedSegmentSum on wasm supports float32 x, got ${x.dtype}`);
    const nIds = tf.util.sizeFromShape(segmentIds.shape);
    const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
    const out = be.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], "float32");
    const dst = be.typedArrayFromHeap(out) as Float32Array;
    dst.fill(0);
    const src = be.typedArrayFromHeap(x) as Float32Array;
    const ids = be.typedArrayFromHeap(segmentIds);
    for (let i = 0; i < nIds; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const o = s * inner;
      const r = i * inner;
      for (let j = 0; j < inner; j++) dst[o + j] += src[r + j];
    }
    return out;
  },
};
