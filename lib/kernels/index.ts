/**
 * Everything training needs from the compute layer, registered once:
 *  - gradient functions for every op the models use (tfjs-core's CommonJS build has none);
 *  - on wasm: the kernels it lacks (Conv2DBackpropFilter, UnsortedSegmentSum) and fast
 *    replacements for the slow ones (Conv2DBackpropInput, transposed/batched BatchMatMul, Sum over
 *    leading axes, Transpose, SplitV, Identity's copy), several in WebAssembly SIMD (lib/kernels/simd);
 *  - on wasm with the oneDNN addon built: convolutions, matrix products, GroupNorm, leading-axis sums,
 *    Exp and Erf natively (lib/kernels/native), wrapping the kernels above.
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { registerGradients } from "./gradients";
import { conv2dBackpropFilterWasm, conv2dBackpropInputKernel } from "./conv";
import { batchMatMulKernel } from "./matmul";
import { unsortedSegmentSumWasm } from "./segment";
import { sumKernel } from "./reduce";
import { transposeKernel } from "./transpose";
import { splitVKernel } from "./split";
import { registerGroupNormKernels } from "./groupnorm";
import { isOneDnnKernel, registerOneDnnKernels } from "./native";

export { GRADIENT_CONFIGS, registerGradients } from "./gradients";

/**
 * `@tensorflow/tfjs-core/dist/register_all_gradients` is an ES module with extensionless imports:
 * Node cannot load it from CommonJS (ERR_MODULE_NOT_FOUND on `gradients/Abs_grad`), although tsx
 * can, so code importing it runs under tsx and crashes once built. The gradients registered here
 * are the same math; this makes that import a no-op so the built program runs and tsx and built
 * runs use the same gradient functions. (Takes effect for imports that come after this module.)
 */
function neutraliseEsmGradientImport(): void {
  let resolved: string;
  try {
    resolved = require.resolve("@tensorflow/tfjs-core/dist/register_all_gradients");
  } catch {
    return;
  }
  if (require.cache[resolved]) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Module is a class only through require
  const stub = new (require("module") as { new (id: string): NodeJS.Module })(resolved);
  stub.filename = resolved;
  stub.loaded = true;
  stub.exports = {};
  require.cache[resolved] = stub;
}
neutraliseEsmGradientImport();
// Gradients are backend-agnostic and cost nothing to register: importing this module is enough.
registerGradients();
// The fused GroupNorm(+SiLU) kernels of the host backends, and their gradient.
registerGroupNormKernels();
export { conv2dBackpropFilterFast, conv2dBackpropInputFast, dilateNHWC, im2col } from "./conv";
export { batchMatMulFast, matMul2D } from "./matmul";

/** The native wasm kernel functions this module replaced, by kernel name (for benchmarks and tests). */
export const nativeWasmKernels = new Map<string, tf.KernelConfig>();
const installed = new WeakSet<tf.KernelFunc>();

/** Register `config`, remembering the native kernel it replaces; a no-op if ours is already there. */
function install(config: tf.KernelConfig | ((native: tf.KernelFunc) => tf.KernelConfig), name: string): boolean {
  const current = tf.getKernel(name, "wasm");
  if (current && (installed.has(current.kernelFunc) || isOneDnnKernel(current.kernelFunc))) return false;
  let cfg: tf.KernelConfig;
  if (typeof config === "function") {
    if (!current) throw new Error(`wasm backend has no ${name} kernel to wrap`);
    nativeWasmKernels.set(name, current);
    // Keep the native setup (it binds the wasm function) so the native path still works.
    cfg = { ...config(current.kernelFunc), setupFunc: current.setupFunc };
  } else {
    cfg = config;
  }
  if (current) tf.unregisterKernel(name, "wasm");
  installed.add(cfg.kernelFunc);
  tf.registerKernel(cfg);
  return true;
}

/**
 * Identity on wasm without the copy: tfjs-wasm's Identity allocates and copies, and the engine runs
 * it on every tensor it saves for the backward pass (about 1,800 per tiny U-Net training step).
 * Tensor data is immutable in tfjs, so sharing it under a reference count (as the cpu backend's
 * Identity and every backend's Reshape do) is the same value.
 */
function identityKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: (args): tf.TensorInfo => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return native(args) as tf.TensorInfo;
      (args.backend as unknown as { incRef(id: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
}

export interface TrainingKernelsReport {
  /** Kernel names whose gradient this call registered. */
  gradients: string[];
  /** wasm kernels this call registered or replaced. */
  wasmKernels: string[];
}

/** Register gradients (all backends) and the project's wasm kernels. Idempotent. */
export function registerTrainingKernels(): TrainingKernelsReport {
  const gradients = registerGradients();
  const wasmKernels: string[] = [];
  const add = (c: Parameters<typeof install>[0], name: string) => install(c, name) && wasmKernels.push(name);
  add(conv2dBackpropFilterWasm, "Conv2DBackpropFilter");
  add(unsortedSegmentSumWasm, "UnsortedSegmentSum");
  add(conv2dBackpropInputKernel, "Conv2DBackpropInput");
  add(batchMatMulKernel, "BatchMatMul");
  add(identityKernel, "Identity");
  add(sumKernel, "Sum");
  add(transposeKernel, "Transpose");
  add(splitVKernel, "SplitV");
  // the heavy ones natively where the oneDNN addon is built (lib/kernels/native), wrapping those above
  wasmKernels.push(...registerOneDnnKernels());
  return { gradients, wasmKernels };
}

/**
 * Put the native wasm kernels back (for native-vs-project benchmarks); `registerTrainingKernels`
 * reinstalls ours. With `keepMissing`, the kernels wasm lacks altogether stay registered, so a
 * training step still runs: "what the wasm backend gives with only the gaps filled".
 */
export function restoreNativeWasmKernels(opts: { keepMissing?: boolean } = {}): void {
  for (const [name, config] of nativeWasmKernels) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(config);
  }
  if (opts.keepMissing) return;
  for (const name of ["Conv2DBackpropFilter", "UnsortedSegmentSum"]) {
    const k = tf.getKernel(name, "wasm");
    if (k && installed.has(k.kernelFunc)) tf.unregisterKernel(name, "wasm");
  }
}
