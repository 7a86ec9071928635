/** The wasm backend's heap as the project's host kernels use it (tfjs-backend-wasm's BackendWasm, structurally). */
import type * as tf from "@tensorflow/tfjs-core";

export interface WasmHeap {
  /** A view of a tensor's values in the wasm heap (detached when the heap grows: take views after allocating). */
  typedArrayFromHeap(t: tf.TensorInfo): ArrayLike<number>;
  /** A new output tensor in the wasm heap. */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}
