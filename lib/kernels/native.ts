/**
 * oneDNN kernels under the wasm backend: an optional native addon (native/, built by
 * `scripts/build-native.cjs` at `npm install` where oneDNN's headers are installed) that computes the
 * heavy kernels of a training step in place on the wasm heap: on oneDNN, convolutions forward (Conv2D,
 * FusedConv2D with a bias) and both gradients (Conv2DBackpropInput, Conv2DBackpropFilter) and matrix
 * products (BatchMatMul, _FusedMatMul with a bias), batched and transposed; as the addon's own
 * vectorized loops, GroupNorm(+SiLU) and its gradient (lib/kernels/groupnorm's kernels), sums over
 * leading axes (Sum), Exp and Erf. Each is registered as a wrapper of the wasm kernel it replaces:
 * inputs it does not handle (another dtype or layout, an activation, a broadcast it cannot express)
 * and every call while switched off go to that kernel. Everything else stays the wasm backend's.
 *
 * Off with DREAMBOOTH_NATIVE=0 (or `setOneDnnEnabled(false)` at run time). Threads: oneDNN's OpenMP
 * threads per calling thread, DREAMBOOTH_NATIVE_THREADS, by default every core on the main thread
 * and one in a worker thread (lib/parallel/pool passes each of its workers its share of the cores).
 */
import * as os from "os";
import * as path from "path";
import * as fs from "fs";
import { isMainThread } from "worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { GROUP_NORM, GROUP_NORM_GRAD, type GroupNormAttrs } from "./groupnorm";
import { leadingAxes } from "./reduce";

/** The addon's functions (native/src/addon.cc); parameters are Float64Arrays of dims and heap byte offsets. */
export interface OneDnnAddon {
  convForward(heap: ArrayBuffer, params: Float64Array): void;
  convBackwardData(heap: ArrayBuffer, params: Float64Array): void;
  convBackwardFilter(heap: ArrayBuffer, params: Float64Array): void;
  matMul(heap: ArrayBuffer, params: Float64Array): void;
  groupNorm(heap: ArrayBuffer, params: Float64Array): void;
  groupNormGrad(heap: ArrayBuffer, params: Float64Array): void;
  colSum(heap: ArrayBuffer, params: Float64Array): void;
  /** op 0: e^x, op 1: erf(x) */
  unary(heap: ArrayBuffer, params: Float64Array): void;
  /** n×n sgemm `reps` times on the heap; the fastest repetition's seconds */
  sgemm(heap: ArrayBuffer, params: Float64Array): number;
  setThreads(n: number): void;
  getThreads(): number;
  info(): { version: string; isa: string; runtime: string; processors: number };
  implementation(kind: "forward" | "backwardData" | "backwardFilter" | "matMul", params: Float64Array): string;
  clearCache(): void;
  cacheSize(): number;
}

// reads: native/src
// reads: native/binding.gyp
/** Where the built addon lies, relative to the repository root. */
export const ADDON_PATH = path.join("native", "build", "Release", "dnnl_kernels.node");

let addon: OneDnnAddon | null | undefined;
let why = "";
let enabled = true;

/** The repository root: the nearest folder above this file with native/binding.gyp (source and dist/ layouts alike). */
function repoRoot(): string | null {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "native", "binding.gyp"))) return dir;
  }
  return null;
}

/**
 * Threads oneDNN uses in this thread: DREAMBOOTH_NATIVE_THREADS, else every core on the main thread and
 * one in a worker.
 */
export function defaultOneDnnThreads(): number {
  const env = process.env.DREAMBOOTH_NATIVE_THREADS;
  if (env != null && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`DREAMBOOTH_NATIVE_THREADS must be a whole number ≥ 1, got "${env}"`);
    return n;
  }
  return isMainThread ? os.availableParallelism() : 1;
}

/**
 * The addon, loaded once; null (and `oneDnnStatus().why` says why) when switched off by
 * DREAMBOOTH_NATIVE=0, not built, or failing to load.
 */
export function oneDnnAddon(): OneDnnAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  const flag = process.env.DREAMBOOTH_NATIVE;
  if (flag != null && !["", "0", "1"].includes(flag))
    throw new Error(`DREAMBOOTH_NATIVE must be 0 or 1, got "${flag}"`);
  if (flag === "0") {
    why = "off by DREAMBOOTH_NATIVE=0";
    return null;
  }
  const root = repoRoot();
  const file = root && path.join(root, ADDON_PATH);
  if (!file || !fs.existsSync(file)) {
    const log = root && path.join(root, "native", "build", "build.log");
    why =
      log && fs.existsSync(log)
        ? "its build failed: see native/build/build.log"
        : "not built: install libdnnl-dev, then npm install";
    return null;
  }
  // OpenMP's idle threads sleep at once instead of spinning (libgomp reads this when the addon loads
  // it): spinning threads take the cores the wasm kernels between two oneDNN calls need, and on a
  // shared machine they made a 2-thread step several times slower (bench/README.md)
  if (isMainThread) process.env.OMP_WAIT_POLICY ??= "PASSIVE";
  const threads = defaultOneDnnThreads(); // a bad DREAMBOOTH_NATIVE_THREADS is an error, not a fallback
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const a = require(file) as OneDnnAddon;
    a.setThreads(threads);
    addon = a;
  } catch (e) {
    why = `failed to load: ${String((e as Error).message).split("\n")[0]}`;
  }
  return addon;
}

export interface OneDnnStatus {
  /** the addon is loaded and switched on */
  on: boolean;
  /** why not, when off */
  why: string;
  version?: string;
  isa?: string;
  threads?: number;
}

export function oneDnnStatus(): OneDnnStatus {
  const a = oneDnnAddon();
  if (!a) return { on: false, why };
  const i = a.info();
  return { on: enabled, why: enabled ? "" : "switched off", version: i.version, isa: i.isa, threads: a.getThreads() };
}

/**
 * For the backend notice: whether the oneDNN kernels run under wasm, and why not; empty when they
 * were switched off on purpose (DREAMBOOTH_NATIVE=0), so that the notice reads as it did without them.
 */
export function oneDnnLine(): string {
  if (process.env.DREAMBOOTH_NATIVE === "0") return "";
  const s = oneDnnStatus();
  if (s.on) return `oneDNN ${s.version} kernels on (${s.isa}, ${s.threads} thread${s.threads === 1 ? "" : "s"})`;
  return `oneDNN kernels off (${s.why})`;
}

/** Switch the oneDNN kernels on or off at run time (tests and the bench compare both paths in one process). */
export function setOneDnnEnabled(on: boolean): void {
  enabled = on;
}

/** Whether wasm kernels run on oneDNN now: the addon loaded, switched on, and wasm the active backend. */
export function oneDnnActive(): boolean {
  return enabled && tf.getBackend() === "wasm" && oneDnnAddon() != null;
}

/** Set the oneDNN thread count of the calling thread (no-op without the addon). */
export function setOneDnnThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setOneDnnThreads: n must be a whole number ≥ 1, got ${n}`);
  oneDnnAddon()?.setThreads(n);
}

// ---------------------------------------------------------------------------------------------
// The wasm heap

interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: unknown): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

const plainHeap = (be: unknown) => (be as Partial<WasmInternals>).wasm?.HEAPU8.buffer instanceof ArrayBuffer;
const offsetOf = (be: WasmInternals, t: tf.TensorInfo): number => be.dataIdMap.get(t.dataId)!.memoryOffset;
const isF32 = (...ts: (tf.TensorInfo | undefined)[]) => ts.every((t) => t == null || t.dtype === "float32");
const nonEmpty = (...ts: tf.TensorInfo[]) => ts.every((t) => t.shape.every((d) => d > 0));

type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding;

/**
 * A convolution's parameters for the addon: 17 dims and 4 byte offsets (filled in later), or null
 * where oneDNN's output-size rule, (in + pads − dilated kernel) / stride + 1, does not give tfjs's.
 */
function convParams(info: tf.backend_util.Conv2DInfo): Float64Array | null {
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    filterHeight: KH,
    filterWidth: KW,
    outChannels: O,
  } = info;
  const {
    outHeight: OH,
    outWidth: OW,
    strideHeight: sh,
    strideWidth: sw,
    dilationHeight: dh,
    dilationWidth: dw,
  } = info;
  const { top, left, bottom, right } = info.padInfo;
  const out = (n: number, k: number, d: number, a: number, b: number, s: number) =>
    Math.floor((n + a + b - ((k - 1) * d + 1)) / s) + 1;
  if (
    out(H, KH, dh, top, bottom, sh) !== OH ||
    out(W, KW, dw, left, right, sw) !== OW ||
    top < 0 ||
    left < 0 ||
    bottom < 0 ||
    right < 0
  )
    return null;
  return new Float64Array([N, H, W, C, KH, KW, O, OH, OW, sh, sw, dh, dw, top, left, bottom, right, 0, 0, 0, -1]);
}

function conv2dInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Pad,
  rounding?: "floor" | "round" | "ceil",
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    dilations,
    pad,
    rounding,
    false,
    "channelsLast",
  );
}

const nhwc = (dataFormat: unknown) => dataFormat == null || dataFormat === "NHWC";
const linearActivation = (a: unknown) => a == null || a === "linear";

/** A bias the addon takes: float32, N values along the last axis (shape [N], [1, N], ...). */
function plainBias(bias: tf.TensorInfo | undefined, n: number): boolean {
  return (
    bias == null ||
    (bias.dtype === "float32" &&
      bias.shape.length >= 1 &&
      bias.shape[bias.shape.length - 1] === n &&
      tf.util.sizeFromShape(bias.shape) === n)
  );
}

/** y = conv(x, w) (+ bias) on oneDNN, or null when out of its scope. */
function convForward(
  be: WasmInternals,
  x: tf.TensorInfo,
  w: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  attrs: tf.Conv2DAttrs,
): tf.TensorInfo | null {
  const a = oneDnnAddon();
  if (
    !a ||
    !isF32(x, w, bias) ||
    x.shape.length !== 4 ||
    w.shape.length !== 4 ||
    !nhwc(attrs.dataFormat) ||
    !nonEmpty(x, w)
  )
    return null;
  if (x.shape[3] !== w.shape[2]) return null;
  const info = conv2dInfo(
    x.shape,
    w.shape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode,
  );
  const p = convParams(info);
  if (!p || !plainBias(bias, info.outChannels) || info.outHeight < 1 || info.outWidth < 1) return null;
  const y = be.makeOutput(info.outShape, "float32");
  p.set([offsetOf(be, x), offsetOf(be, w), offsetOf(be, y), bias ? offsetOf(be, bias) : -1], 17);
  a.convForward(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
  return y;
}

/** y = op(a) · op(b) (+ bias) on oneDNN, or null when out of its scope. */
function matMul(
  be: WasmInternals,
  x: tf.TensorInfo,
  y: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias?: tf.TensorInfo,
): tf.TensorInfo | null {
  const addon = oneDnnAddon();
  if (!addon || !isF32(x, y) || x.shape.length < 2 || y.shape.length < 2 || !nonEmpty(x, y)) return null;
  const batchA = x.shape.slice(0, -2);
  const batchB = y.shape.slice(0, -2);
  const nA = tf.util.sizeFromShape(batchA);
  const nB = tf.util.sizeFromShape(batchB);
  let outBatch: number[];
  try {
    outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  } catch {
    return null;
  }
  const G = tf.util.sizeFromShape(outBatch);
  // equal batches item by item, or one side a single matrix shared by every item
  if (!((nA === G && nB === G) || (nA === 1 && nB === G) || (nB === 1 && nA === G))) return null;
  const [ra, ca] = x.shape.slice(-2);
  const [rb, cb] = y.shape.slice(-2);
  const M = transposeA ? ca : ra;
  const K = transposeA ? ra : ca;
  const N = transposeB ? rb : cb;
  if ((transposeB ? cb : rb) !== K || !plainBias(bias, N)) return null;
  const out = be.makeOutput([...outBatch, M, N], "float32");
  const p = new Float64Array([
    nA,
    nB,
    M,
    N,
    K,
    transposeA ? 1 : 0,
    transposeB ? 1 : 0,
    offsetOf(be, x),
    offsetOf(be, y),
    offsetOf(be, out),
    bias ? offsetOf(be, bias) : -1,
  ]);
  addon.matMul(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
  return out;
}

/** GroupNorm's inputs as the addon takes them (lib/kernels/groupnorm checks and reports anything else). */
function groupNormShape(
  x: tf.TensorInfo,
  gamma: tf.TensorInfo,
  beta: tf.TensorInfo,
  groups: number,
): [number, number, number] | null {
  if (!isF32(x, gamma, beta) || x.shape.length !== 4 || !nonEmpty(x)) return null;
  const C = x.shape[3];
  if (!(groups >= 1) || C % groups !== 0 || gamma.shape.join() !== String(C) || beta.shape.join() !== String(C))
    return null;
  return [x.shape[0], x.shape[1] * x.shape[2], C];
}

/** e^x (op 0) or erf(x) (op 1) of a float32 tensor on the addon, or null when out of its scope. */
function unary(op: 0 | 1, args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  if (!enabled || !oneDnnAddon() || x.dtype !== "float32" || !nonEmpty(x)) return null;
  const be = args.backend as unknown as WasmInternals;
  const y = be.makeOutput(x.shape, "float32");
  oneDnnAddon()!.unary(
    be.wasm.HEAPU8.buffer as ArrayBuffer,
    new Float64Array([op, tf.util.sizeFromShape(x.shape), offsetOf(be, x), offsetOf(be, y)]),
  );
  return y;
}

type Wrap = (inner: tf.KernelFunc) => tf.KernelFunc;

/** The wrappers by kernel name: each tries oneDNN and hands everything else to the kernel it wraps. */
const WRAPPERS: Record<string, Wrap> = {
  Conv2D: (inner) => (args) => {
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    return (
      (enabled &&
        convForward(
          args.backend as unknown as WasmInternals,
          x,
          filter,
          undefined,
          args.attrs as unknown as tf.Conv2DAttrs,
        )) ||
      inner(args)
    );
  },
  FusedConv2D: (inner) => (args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = args.attrs as unknown as tf.FusedConv2DAttrs;
    if (!enabled || preluActivationWeights != null || !linearActivation(attrs.activation)) return inner(args);
    return convForward(args.backend as unknown as WasmInternals, x!, filter!, bias, attrs) || inner(args);
  },
  Conv2DBackpropInput: (inner) => (args) => {
    const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const a = oneDnnAddon();
    if (
      !enabled ||
      !a ||
      !isF32(dy, filter) ||
      !nhwc(attrs.dataFormat) ||
      dy.shape.length !== 4 ||
      filter.shape.length !== 4 ||
      !nonEmpty(dy, filter)
    )
      return inner(args);
    const info = conv2dInfo(
      [...attrs.inputShape],
      filter.shape,
      attrs.strides,
      1,
      attrs.pad as Pad,
      attrs.dimRoundingMode,
    );
    const p = convParams(info);
    if (!p || info.outShape.join() !== dy.shape.join() || info.inChannels !== filter.shape[2]) return inner(args);
    const be = args.backend as unknown as WasmInternals;
    const dx = be.makeOutput([...attrs.inputShape], "float32");
    p.set([offsetOf(be, dy), offsetOf(be, filter), offsetOf(be, dx), -1], 17);
    a.convBackwardData(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
    return dx;
  },
  Conv2DBackpropFilter: (inner) => (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    const a = oneDnnAddon();
    if (
      !enabled ||
      !a ||
      !isF32(x, dy) ||
      !nhwc(attrs.dataFormat) ||
      x.shape.length !== 4 ||
      dy.shape.length !== 4 ||
      !nonEmpty(x, dy)
    )
      return inner(args);
    const info = conv2dInfo(x.shape, [...attrs.filterShape], attrs.strides, 1, attrs.pad as Pad, attrs.dimRoundingMode);
    const p = convParams(info);
    if (!p || info.outShape.join() !== dy.shape.join() || x.shape[3] !== attrs.filterShape[2]) return inner(args);
    const be = args.backend as unknown as WasmInternals;
    const dw = be.makeOutput([...attrs.filterShape], "float32");
    p.set([offsetOf(be, x), offsetOf(be, dy), offsetOf(be, dw), -1], 17);
    a.convBackwardFilter(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
    return dw;
  },
  BatchMatMul: (inner) => (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    return (enabled && matMul(args.backend as unknown as WasmInternals, a, b, transposeA, transposeB)) || inner(args);
  },
  [GROUP_NORM]: (inner) => (args) => {
    const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
    const a = args.attrs as unknown as GroupNormAttrs;
    const shape = enabled && oneDnnAddon() ? groupNormShape(x, gamma, beta, a.groups) : null;
    if (!shape) return inner(args);
    const [B, HW, C] = shape;
    const be = args.backend as unknown as WasmInternals;
    const outs = [
      be.makeOutput(x.shape, "float32"),
      be.makeOutput([B, a.groups], "float32"),
      be.makeOutput([B, a.groups], "float32"),
    ];
    const p = new Float64Array([
      B,
      HW,
      C,
      a.groups,
      a.eps,
      a.silu ? 1 : 0,
      ...[x, gamma, beta, ...outs].map((t) => offsetOf(be, t)),
    ]);
    oneDnnAddon()!.groupNorm(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
    return outs;
  },
  [GROUP_NORM_GRAD]: (inner) => (args) => {
    const { dy, x, gamma, beta, mean, rstd } = args.inputs as Record<string, tf.TensorInfo>;
    const a = args.attrs as unknown as GroupNormAttrs;
    const shape =
      enabled && oneDnnAddon() && isF32(dy, mean, rstd) && dy.shape.join() === x.shape.join()
        ? groupNormShape(x, gamma, beta, a.groups)
        : null;
    if (!shape || mean.shape.join() !== `${shape[0]},${a.groups}` || rstd.shape.join() !== mean.shape.join())
      return inner(args);
    const [B, HW, C] = shape;
    const be = args.backend as unknown as WasmInternals;
    const outs = [be.makeOutput(x.shape, "float32"), be.makeOutput([C], "float32"), be.makeOutput([C], "float32")];
    const p = new Float64Array([
      B,
      HW,
      C,
      a.groups,
      a.silu ? 1 : 0,
      ...[dy, x, gamma, beta, mean, rstd, ...outs].map((t) => offsetOf(be, t)),
    ]);
    oneDnnAddon()!.groupNormGrad(be.wasm.HEAPU8.buffer as ArrayBuffer, p);
    return outs;
  },
  Sum: (inner) => (args) => {
    // sums over leading axes (bias gradients), float64 in row order like lib/kernels/reduce.ts: the same bytes
    const x = args.inputs.x as tf.TensorInfo;
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const k = enabled && oneDnnAddon() && x.dtype === "float32" && nonEmpty(x) ? leadingAxes(axis, x.shape.length) : 0;
    if (k === 0) return inner(args);
    const rest = x.shape.slice(k);
    const be = args.backend as unknown as WasmInternals;
    const out = be.makeOutput(keepDims ? [...x.shape.slice(0, k).map(() => 1), ...rest] : rest, "float32");
    const cols = tf.util.sizeFromShape(rest);
    oneDnnAddon()!.colSum(
      be.wasm.HEAPU8.buffer as ArrayBuffer,
      new Float64Array([tf.util.sizeFromShape(x.shape) / cols, cols, offsetOf(be, x), offsetOf(be, out)]),
    );
    return out;
  },
  Exp: (inner) => (args) => unary(0, args) || inner(args),
  Erf: (inner) => (args) => unary(1, args) || inner(args),
  _FusedMatMul: (inner) => (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    if (!enabled || preluActivationWeights != null || !linearActivation(attrs.activation)) return inner(args);
    return (
      matMul(args.backend as unknown as WasmInternals, a!, b!, attrs.transposeA, attrs.transposeB, bias) || inner(args)
    );
  },
};

/** The kernel functions registered here (so that registering again is a no-op). */
const ours = new WeakSet<tf.KernelFunc>();

/** Whether `f` is one of the oneDNN wrappers. */
export function isOneDnnKernel(f: tf.KernelFunc): boolean {
  return ours.has(f);
}

/**
 * Wrap the wasm kernels named in WRAPPERS (whichever are registered now: tfjs's own or the project's
 * replacements) with their oneDNN versions. Idempotent; nothing happens without the addon. Returns
 * the kernel names wrapped by this call.
 */
export function registerOneDnnKernels(): string[] {
  if (!oneDnnAddon()) return [];
  const added: string[] = [];
  for (const [name, wrap] of Object.entries(WRAPPERS)) {
    const current = tf.getKernel(name, "wasm");
    if (!current || ours.has(current.kernelFunc)) continue;
    const inner = current.kernelFunc;
    const wrapped = wrap(inner);
    // the addon takes the heap as a plain ArrayBuffer: tfjs-wasm's threaded build (a SharedArrayBuffer
    // heap, not what Node loads) keeps its own kernels
    const kernelFunc: tf.KernelFunc = (args) => (plainHeap(args.backend) ? wrapped(args) : inner(args));
    ours.add(kernelFunc);
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      kernelFunc,
      setupFunc: current.setupFunc,
      disposeFunc: current.disposeFunc,
    });
    added.push(name);
  }
  return added;
}
