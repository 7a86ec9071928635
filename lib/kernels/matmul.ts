/**
 * Matrix products routed through the one fast path of the wasm backend.
 *
 * tfjs 4.22 wasm hands a BatchMatMul to XNNPACK's fully-connected GEMM only when it is a single
 * (batch 1) product with neither operand transposed: ~30 GFLOP/s on one core here. Every other
 * variant (transposeA, transposeB, any batch > 1) runs a naive loop at ~1-2.5 GFLOP/s, and those
 * are exactly the variants that attention and every matmul gradient use. Here each variant is
 * rewritten as non-transposed 2-D products plus explicit transposes, picking the rewrite that
 * moves the fewest elements (a transpose runs at ~1 GB/s, so it pays for itself once the
 * product's inner dimensions exceed a few dozen).
 */
import * as tf from "@tensorflow/tfjs-core";

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
  if (nA > 1 && nB > 1 && (transposeA || !transposeB || N < NARROW)) return null;
  if (nA === 1 && nB === 1) return tf.reshape(matMul2D(tf.reshape(a, [ra, ca]), tf.reshape(b, [rb, cb]), transposeA, transposeB), [...outBatch, M, N]);
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
      if (plain || !(a instanceof tf.Tensor) || !(b instanceof tf.Tensor) || a.dtype !== "float32" || b.dtype !== "float32") {
        return native(args) as tf.TensorInfo;
      }
      const out = tf.tidy(() => batchMatMulFast(a, b, transposeA, transposeB) ?? []);
      return Array.isArray(out) ? (native(args) as tf.TensorInfo) : (out as T);
    },
  };
}
