/**
 * Transposes on wasm through the project's SIMD kernels (lib/kernels/simd/transpose.wat).
 *
 * tfjs-wasm's Transpose moves 0.5-1.4 GB/s here on the shapes training makes: the matrix
 * transposes of matMul2D's rewrites (every linear layer's weight gradient) and attention's head
 * split and merge ([B, tokens, heads, d] ↔ [B, heads, tokens, d]). Any permutation that swaps two
 * adjacent groups of axes is a batched transpose [G, R, C, D] → [G, C, R, D]: with D = 1 it runs in
 * 4×4 register tiles, with D a multiple of 4 as whole-block copies; others stay native.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WasmHeap } from "./heap";
import { simdSupported, transposeModule } from "./simd/modules";

/** [G, R, C, D] sizes when `perm` swaps two adjacent groups of axes of `shape` (identity before and after), else null. */
export function asBlockTranspose(
  shape: number[],
  perm: number[],
): { G: number; R: number; C: number; D: number } | null {
  const r = perm.length;
  let a = 0;
  while (a < r && perm[a] === a) a++;
  if (a === r) return null; // identity
  let e = r - 1;
  while (perm[e] === e) e--;
  // perm[a..e] must be b, b+1, .., e, a, a+1, .., b-1 for some a < b ≤ e
  const b = perm[a];
  if (b <= a) return null;
  for (let i = a; i <= e; i++) {
    const want = i - a < e - b + 1 ? b + (i - a) : a + (i - a - (e - b + 1));
    if (perm[i] !== want) return null;
  }
  const prod = (lo: number, hi: number) => shape.slice(lo, hi).reduce((x, y) => x * y, 1);
  return { G: prod(0, a), R: prod(a, b), C: prod(b, e + 1), D: prod(e + 1, r) };
}

/** Where a block transpose of n elements puts its output in the SIMD module's memory (after the input, 16-byte aligned), and the bytes it takes. */
const outputAt = (n: number) => Math.ceil((4 * n) / 16) * 16;
const transposeBytes = (n: number) => outputAt(n) + 4 * n;

/**
 * dst ← src transposed as [G, R, C, D] → [G, C, R, D] (D = 1 or a multiple of 4), through the SIMD
 * module; false (dst untouched) where its memory cannot hold them.
 */
export function blockTransposeSimd(
  src: Float32Array,
  dst: Float32Array,
  G: number,
  R: number,
  C: number,
  D: number,
): boolean {
  const n = G * R * C * D;
  const mod = transposeModule();
  const out = outputAt(n);
  if (!mod.reserve(transposeBytes(n))) return false;
  mod.f32.set(src.subarray(0, n), 0);
  if (D === 1) mod.exports.transpose(0, out, G, R, C);
  else mod.exports.blocks(0, out, G, R, C, D);
  dst.set(mod.f32.subarray(out / 4, out / 4 + n));
  return true;
}

/** Tensors below this many elements stay on the native kernel (a call's fixed costs win). */
export const SMALL_TRANSPOSE = 1024;

/** The wasm Transpose kernel, replaced for float32 block transposes of at least SMALL_TRANSPOSE elements; the rest native. */
export function transposeKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "Transpose",
    backendName: "wasm",
    kernelFunc: (args): tf.TensorInfo => {
      const x = args.inputs.x as tf.TensorInfo;
      const { perm } = args.attrs as unknown as tf.TransposeAttrs;
      const size = tf.util.sizeFromShape(x.shape);
      const blocks =
        simdSupported && x.dtype === "float32" && size >= SMALL_TRANSPOSE ? asBlockTranspose(x.shape, perm) : null;
      if (!blocks || (blocks.D !== 1 && blocks.D % 4 !== 0) || !transposeModule().reserve(transposeBytes(size)))
        return native(args) as tf.TensorInfo;
      const be = args.backend as unknown as WasmHeap;
      const out = be.makeOutput(
        perm.map((p) => x.shape[p]),
        "float32",
      );
      // the output is made first: an allocation can grow the heap and detach earlier views
      blockTransposeSimd(
        be.typedArrayFromHeap(x) as Float32Array,
        be.typedArrayFromHeap(out) as Float32Array,
        blocks.G,
        blocks.R,
        blocks.C,
        blocks.D,
      );
      return out;
    },
  };
}
