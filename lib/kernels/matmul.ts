/**
 * Matrix products routed through the one fast path of the wasm backend.
 *
 * tfjs 4.22 wasm hands a BatchMatMul to XNNPACK's fully-connected GEMM only when it is a single
 * (batch 1) product with neither operand transposed: ~30 GFLOP/s on one core here. Every other
 * variant (transposeA, transposeB, any batch > 1) runs a naive loop at ~1-2.5 GFLOP/s, and those
 * are exactly the variants that attention and every matmul gradient use. Here each variant is
 * rewritten as non-transposed 2-D products plus explicit transposes, picking the rewrite that
 * moves the fewest elements (a transpose runs at ~1 GB/s, so it pays for itself once the
 * product's inner dimensions exceed a few dozen). Batched products with distinct operands (attention)
 * run in the project's WebAssembly SIMD kernel (lib/kernels/simd/gemm.wat).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WasmHeap } from "./heap";
import { gemmModule, simdSupported } from "./simd/modules";

type T = tf.Tensor;
const tr = (x: T) => tf.transpose(x, [1, 0]);

/**
 * op(a) op(b) for 2-D a, b, using only the non-transposed product. Costs are the numbers of
 * elements transposed:  NT a·bᵀ: bᵀ (N·K) or (b·aᵀ)ᵀ (M·K + M·N);  TN aᵀ·b: aᵀ (K·M) or
 * (bᵀ·a)ᵀ (K·N + M·N);  TT aᵀ·bᵀ = (b·a)ᵀ (M·N) or aᵀ, bᵀ (K·M + K·N).
 */
export function matMul2D(a: T, b: T, transposeA = false, transposeB = false): T {
  const [ra, ca] = a.shape as [number, number];
  const [rb, cb] = b.shape as [number, number];
  const M = transposeA ? ca : ra;
  const K = transposeA ? ra : ca;
  const N = transposeB ? rb : cb;
  const nn = (x: T, y: T) => tf.matMul(x, y);
  if (!transposeA && !transposeB) return nn(a, b);
  if (!transposeA && transposeB) return N * K <= M * K + M * N ? nn(a, tr(b)) : tr(nn(b, tr(a)));
  if (transposeA && !transposeB) return K * M <= K * N + M * N ? nn(tr(a), b) : tr(nn(tr(b), a));
  return M * N <= K * M + K * N ? tr(nn(b, a)) : nn(tr(a), tr(b));
}

/** Products per batch item below this many multiply-adds stay on the native kernel (per-op overhead wins). */
export const SMALL_PRODUCT = 16 * 16 * 16;
/** Column count below which a plain batched product stays native (measured: 16 columns lose, 32 win). */
export const NARROW = 32;
/**
 * Multiply-adds per batch item below which a batched product (batch > 1 on both sides) stays on
 * the native loop. Measured (BatchMatMul, wasm, one thread): the tiny U-Net's attention products
 * (64 items of 64×77×24, 16×77×32, 64×64×24) run at 0.2-0.9 GFLOP/s one item at a time and at
 * 2.1-2.2 natively; 16 items of 256×256×32 run at 6.5 one at a time and 2.2 natively.
 */
export const BATCHED_ITEM = 1 << 20;

/**
 * Batched op(a) op(b) (rank ≥ 2, batch dims equal or one side's batch of size 1), as 2-D
 * products: a shared right operand folds the batch into the rows of a single product; otherwise
 * one product per batch item. Returns null where the shapes are outside what this handles.
 */
export function batchMatMulFast(a: T, b: T, transposeA: boolean, transposeB: boolean): T | null {
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const nA = tf.util.sizeFromShape(batchA);
  const nB = tf.util.sizeFromShape(batchB);
  if (nA !== nB && nA !== 1 && nB !== 1) return null;
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const M = transposeA ? ca : ra;
  const N = transposeB ? rb : cb;
  const K = transposeA ? ra : ca;
  if (M * N * K < SMALL_PRODUCT) return null;
  // Batched products with distinct operands: the per-item loop pays per-op overhead and XNNPACK
  // operator setup per item. Measured on attention shapes (16 × 256 tokens, head dim 16-64) it wins
  // only for q·kᵀ (a·bᵀ, 2-6×); P·V (a·b) and Pᵀ·dO (aᵀ·b) lose to the native loop, so they stay native.
  if (nA > 1 && nB > 1 && (transposeA || !transposeB || N < NARROW || M * N * K < BATCHED_ITEM)) return null;
  if (nA === 1 && nB === 1)
    return tf.reshape(matMul2D(tf.reshape(a, [ra, ca]), tf.reshape(b, [rb, cb]), transposeA, transposeB), [
      ...outBatch,
      M,
      N,
    ]);
  if (nB === 1 && !transposeA) {
    // [n, M, K] · [K, N]: one product with n·M rows.
    const out = matMul2D(tf.reshape(a, [nA * M, K]), tf.reshape(b, [rb, cb]), false, transposeB);
    return tf.reshape(out, [...outBatch, M, N]);
  }
  const as = nA === 1 ? null : tf.unstack(tf.reshape(a, [nA, ra, ca]));
  const bs = nB === 1 ? null : tf.unstack(tf.reshape(b, [nB, rb, cb]));
  const a2 = nA === 1 ? tf.reshape(a, [ra, ca]) : null;
  const b2 = nB === 1 ? tf.reshape(b, [rb, cb]) : null;
  const n = Math.max(nA, nB);
  const outs: T[] = [];
  for (let i = 0; i < n; i++) outs.push(matMul2D(as ? as[i] : a2!, bs ? bs[i] : b2!, transposeA, transposeB));
  return tf.reshape(tf.stack(outs), [...outBatch, M, N]);
}

/**
 * C[g] = A[g] · B[g] for row-major A [G, M, K], B [G, K, N] into C [G, M, N], in 4×4 register
 * blocks (float64 accumulators). For the many small products of attention (G = batch·heads of
 * 64×77×24 and the like) this runs at ~4 GFLOP/s in JavaScript, against ~2 for the native loop
 * and 0.2-0.9 for one XNNPACK product per item (whose per-call setup dominates at this size);
 * the SIMD kernel (`batchedGemmSimd`, 11-25 GFLOP/s) replaces it where the runtime has SIMD.
 */
export function batchedGemm(
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  G: number,
  M: number,
  N: number,
  K: number,
): void {
  for (let g = 0; g < G; g++) {
    const ao = g * M * K;
    const bo = g * K * N;
    const co = g * M * N;
    let i = 0;
    for (; i + 3 < M; i += 4) {
      const a0 = ao + i * K;
      const a1 = a0 + K;
      const a2 = a1 + K;
      const a3 = a2 + K;
      let j = 0;
      for (; j + 3 < N; j += 4) {
        let c00 = 0,
          c01 = 0,
          c02 = 0,
          c03 = 0,
          c10 = 0,
          c11 = 0,
          c12 = 0,
          c13 = 0;
        let c20 = 0,
          c21 = 0,
          c22 = 0,
          c23 = 0,
          c30 = 0,
          c31 = 0,
          c32 = 0,
          c33 = 0;
        let b = bo + j;
        for (let k = 0; k < K; k++, b += N) {
          const b0 = B[b],
            b1 = B[b + 1],
            b2 = B[b + 2],
            b3 = B[b + 3];
          const x0 = A[a0 + k],
            x1 = A[a1 + k],
            x2 = A[a2 + k],
            x3 = A[a3 + k];
          c00 += x0 * b0;
          c01 += x0 * b1;
          c02 += x0 * b2;
          c03 += x0 * b3;
          c10 += x1 * b0;
          c11 += x1 * b1;
          c12 += x1 * b2;
          c13 += x1 * b3;
          c20 += x2 * b0;
          c21 += x2 * b1;
          c22 += x2 * b2;
          c23 += x2 * b3;
          c30 += x3 * b0;
          c31 += x3 * b1;
          c32 += x3 * b2;
          c33 += x3 * b3;
        }
        let c = co + i * N + j;
        C[c] = c00;
        C[c + 1] = c01;
        C[c + 2] = c02;
        C[c + 3] = c03;
        c += N;
        C[c] = c10;
        C[c + 1] = c11;
        C[c + 2] = c12;
        C[c + 3] = c13;
        c += N;
        C[c] = c20;
        C[c + 1] = c21;
        C[c + 2] = c22;
        C[c + 3] = c23;
        c += N;
        C[c] = c30;
        C[c + 1] = c31;
        C[c + 2] = c32;
        C[c + 3] = c33;
      }
      for (; j < N; j++) {
        for (let r = 0; r < 4; r++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += A[ao + (i + r) * K + k] * B[bo + k * N + j];
          C[co + (i + r) * N + j] = acc;
        }
      }
    }
    for (; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += A[ao + i * K + k] * B[bo + k * N + j];
        C[co + i * N + j] = acc;
      }
    }
  }
}

/** [G, R, C] row-major → [G, C, R] into `out`. */
function transposeItems(x: Float32Array, G: number, R: number, Cc: number, out: Float32Array): Float32Array {
  for (let g = 0; g < G; g++) {
    const o = g * R * Cc;
    for (let r = 0; r < R; r++) for (let c = 0; c < Cc; c++) out[o + c * R + r] = x[o + r * Cc + c];
  }
  return out;
}

let useSimd = simdSupported;
/** Whether small batched products take the WebAssembly SIMD kernel (lib/kernels/simd/gemm.wat) or `batchedGemm`; tests and the bench compare the two. */
export function setSimdMatmul(on: boolean): void {
  useSimd = on && simdSupported;
}

/**
 * `batchedGemm` with transposes, through the SIMD module: op(A[g]) and op(B[g]) are copied into its
 * memory (transposed there, B's columns padded to a multiple of 4), multiplied, and C copied out.
 * False (C untouched) where the module's memory cannot hold them.
 */
export function batchedGemmSimd(
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  G: number,
  M: number,
  N: number,
  K: number,
  transposeA: boolean,
  transposeB: boolean,
): boolean {
  const N4 = (N + 3) & ~3;
  const mod = gemmModule();
  const pa = 0;
  const pb = pa + 4 * G * M * K;
  const pc = pb + 4 * G * K * N4;
  if (!mod.reserve(pc + 4 * G * M * N4)) return false;
  const f = mod.f32;
  if (!transposeA) f.set(A.subarray(0, G * M * K), pa / 4);
  else
    for (let g = 0, o = pa / 4; g < G; g++)
      for (let i = 0, src = g * K * M; i < M; i++) for (let k = 0; k < K; k++) f[o++] = A[src + k * M + i];
  if (!transposeB && N4 === N) f.set(B.subarray(0, G * K * N), pb / 4);
  else if (!transposeB)
    for (let r = 0, o = pb / 4; r < G * K; r++, o += N4) {
      f.set(B.subarray(r * N, r * N + N), o);
      f.fill(0, o + N, o + N4);
    }
  else
    for (let g = 0, o = pb / 4; g < G; g++)
      for (let k = 0, src = g * N * K; k < K; k++, o += N4) {
        for (let j = 0; j < N; j++) f[o + j] = B[src + j * K + k];
        f.fill(0, o + N, o + N4);
      }
  mod.exports.gemm(pa, pb, pc, G, M, N4, K);
  if (N4 === N) C.set(f.subarray(pc / 4, pc / 4 + G * M * N));
  else for (let r = 0, o = pc / 4; r < G * M; r++, o += N4) C.set(f.subarray(o, o + N), r * N);
  return true;
}

/** Most bytes of SIMD-module memory one batched product may take (operands and result copied in); larger ones stay on the other paths. */
export const SIMD_GEMM_MAX_BYTES = 512 * 2 ** 20;

/**
 * Batched op(a)·op(b) with equal batches, on the wasm heap: through the SIMD kernel (any item size:
 * measured 8-25 GFLOP/s on attention shapes against 1.7-5 for the native loop and the per-item
 * rewrite), or without SIMD, small items in JavaScript (`batchedGemm`). Null if out of scope.
 */
function batchedOnHeap(
  backend: unknown,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo | null {
  if (a.shape.length < 3 || b.shape.length < 3 || a.dtype !== "float32" || b.dtype !== "float32") return null;
  const batchA = a.shape.slice(0, -2);
  if (batchA.join() !== b.shape.slice(0, -2).join()) return null;
  const G = tf.util.sizeFromShape(batchA);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const M = transposeA ? ca : ra;
  const K = transposeA ? ra : ca;
  const N = transposeB ? rb : cb;
  if ((transposeB ? cb : rb) !== K) return null;
  if (G < 2) return null;
  const simd = useSimd && K > 0 && 4 * G * (M * K + K * ((N + 3) & ~3) + M * ((N + 3) & ~3)) <= SIMD_GEMM_MAX_BYTES;
  if (!simd && M * N * K >= BATCHED_ITEM) return null;
  const be = backend as WasmHeap;
  const out = be.makeOutput([...batchA, M, N], "float32");
  const C = be.typedArrayFromHeap(out) as Float32Array;
  let A = be.typedArrayFromHeap(a) as Float32Array;
  let B = be.typedArrayFromHeap(b) as Float32Array;
  if (simd && batchedGemmSimd(A, B, C, G, M, N, K, transposeA, transposeB)) return out;
  if (transposeA) A = transposeItems(A, G, ra, ca, new Float32Array(A.length));
  if (transposeB) B = transposeItems(B, G, rb, cb, new Float32Array(B.length));
  batchedGemm(A, B, C, G, M, N, K);
  return out;
}

/**
 * The wasm BatchMatMul kernel, replaced: the fast native case goes straight to `native`, the
 * rest through `batchMatMulFast` (whose own 2-D products come back here as the fast case).
 */
export function batchMatMulKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: (args): tf.TensorInfo => {
      const { a, b } = args.inputs as { a: T; b: T };
      const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
      const batch1 = a.shape.length === 2 || tf.util.sizeFromShape(a.shape.slice(0, -2)) === 1;
      const batch1b = b.shape.length === 2 || tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1;
      const plain = !transposeA && !transposeB && batch1 && batch1b;
      if (!batch1 && !batch1b) {
        const onHeap = batchedOnHeap(args.backend, a, b, transposeA, transposeB);
        if (onHeap) return onHeap;
      }
      if (
        plain ||
        !(a instanceof tf.Tensor) ||
        !(b instanceof tf.Tensor) ||
        a.dtype !== "float32" ||
        b.dtype !== "float32"
      ) {
        return native(args) as tf.TensorInfo;
      }
      const out = tf.tidy(() => batchMatMulFast(a, b, transposeA, transposeB) ?? []);
      return Array.isArray(out) ? (native(args) as tf.TensorInfo) : (out as T);
    },
  };
}
