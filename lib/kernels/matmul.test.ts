import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { matMul2D, batchMatMulFast, batchedGemm, batchedGemmSimd, BATCHED_ITEM, NARROW } from "./matmul";
import { fixedRandom, gradsOfWeighted, relErr, runOn, wasmVsCpu } from "./test-util";

const VARIANTS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];
/** Operand shapes for op(a) [.., M, K] · op(b) [.., K, N]. */
function shapes(
  batchA: number[],
  batchB: number[],
  M: number,
  K: number,
  N: number,
  ta: boolean,
  tb: boolean,
): [number[], number[]] {
  return [
    [...batchA, ...(ta ? [K, M] : [M, K])],
    [...batchB, ...(tb ? [N, K] : [K, N])],
  ];
}
const CASES: [number[], number[], number, number, number][] = [
  [[], [], 33, 40, 17], // 2-D
  [[], [], 64, 8, 96], // short inner dimension
  [[3], [3], 20, 24, 40], // batched, small items: native (the per-item loop loses below BATCHED_ITEM)
  [[3], [3], 7, 5, 10], // batched, sizes off the 4×4 blocks of the JavaScript product
  [[2], [2], 128, 64, 128], // batched, large items (a·bᵀ rewritten: N ≥ NARROW, M·N·K ≥ BATCHED_ITEM)
  [[2, 3], [2, 3], 16, 20, 24], // two batch dims
  [[4], [], 20, 24, 18], // shared right operand
  [[], [4], 20, 24, 18], // shared left operand
  [[2], [2], 5, 3, 4], // tiny: stays on the native kernel
];

for (const [ta, tb] of VARIANTS) {
  test(`matMul transposeA=${ta} transposeB=${tb}: value and gradients on wasm match cpu`, async () => {
    for (const [bA, bB, M, K, N] of CASES) {
      const [sa, sb] = shapes(bA, bB, M, K, N, ta, tb);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, ta, tb);
      const err = await wasmVsCpu(
        [
          { shape: sa, seed: 1 },
          { shape: sb, seed: 2 },
        ],
        (a, b) => [f(a, b), ...gradsOfWeighted(f, [0, 1])(a, b)],
      );
      assert.ok(err <= 1e-4, `${sa} x ${sb}: relative error ${err}`);
    }
  });
}

test("matMul2D and batchMatMulFast on cpu equal the native product for every variant", async () => {
  for (const [ta, tb] of VARIANTS) {
    for (const [bA, bB, M, K, N] of CASES.slice(0, 8)) {
      const [sa, sb] = shapes(bA, bB, M, K, N, ta, tb);
      let handled = true;
      const [fast, native] = await runOn(
        "cpu",
        [
          { shape: sa, seed: 3 },
          { shape: sb, seed: 4 },
        ],
        (a, b) => {
          const f = bA.length + bB.length === 0 ? matMul2D(a, b, ta, tb) : batchMatMulFast(a, b, ta, tb);
          handled = f !== null;
          return [f ?? tf.zeros([1]), tf.matMul(a, b, ta, tb)];
        },
      );
      // Batched products with distinct operands are rewritten only for a·bᵀ; the rest stay native (null).
      const expectHandled =
        !(bA.length > 0 && bB.length > 0) || (!ta && tb && N >= NARROW && M * N * K >= BATCHED_ITEM);
      assert.equal(handled, expectHandled, `${sa} x ${sb} ta=${ta} tb=${tb}: handled ${handled}`);
      if (!handled) continue;
      assert.ok(relErr(fast, native) <= 1e-5, `${sa} x ${sb} ta=${ta} tb=${tb}: ${relErr(fast, native)}`);
    }
  }
});

test("a 2x2 product with both operands transposed is the hand-computed one", async () => {
  // aᵀ bᵀ with a = [[1,2],[3,4]], b = [[5,6],[7,8]]: aᵀ = [[1,3],[2,4]], bᵀ = [[5,7],[6,8]] -> [[23,31],[34,46]].
  const [c] = await runOn(
    "wasm",
    [
      { shape: [2, 2], seed: 0, values: [1, 2, 3, 4] },
      { shape: [2, 2], seed: 0, values: [5, 6, 7, 8] },
    ],
    (a, b) => matMul2D(a, b, true, true),
  );
  assert.deepEqual(Array.from(c), [23, 31, 34, 46]);
});

test("fast matmul on wasm leaks no tensors and is bit-identical across runs", async () => {
  await runOn("wasm", [], () => tf.zeros([1]));
  const before = tf.memory().numTensors;
  const inputs = [
    { shape: [4, 40, 32], seed: 5 },
    { shape: [4, 48, 32], seed: 6 },
  ];
  const f = (a: tf.Tensor, b: tf.Tensor) => tf.matMul(a, b, false, true);
  const r1 = await runOn("wasm", inputs, (a, b) => [f(a, b), ...gradsOfWeighted(f, [0, 1])(a, b)]);
  const r2 = await runOn("wasm", inputs, (a, b) => [f(a, b), ...gradsOfWeighted(f, [0, 1])(a, b)]);
  assert.equal(tf.memory().numTensors, before);
  r1.forEach((x, i) => assert.deepEqual(Buffer.from(x.buffer), Buffer.from(r2[i].buffer)));
});

test("the SIMD batched product equals the float64 JavaScript one for every transpose and block remainder", () => {
  // rows and columns around the 4×8 / 4×4 / 1×4 blocks of lib/kernels/simd/gemm.wat, odd inner sizes, 77 text tokens
  for (const [M, N, K] of [
    [1, 1, 1],
    [3, 5, 2],
    [4, 4, 7],
    [5, 8, 24],
    [8, 12, 3],
    [13, 77, 24],
    [64, 77, 24],
    [9, 16, 77],
  ]) {
    for (const [ta, tb] of VARIANTS) {
      const G = 3;
      const A = fixedRandom(G * M * K, M + 10 * K);
      const B = fixedRandom(G * K * N, N + 7 * K);
      // the reference takes non-transposed operands: build op(A), op(B) from the stored layouts
      const opA = new Float32Array(A.length);
      const opB = new Float32Array(B.length);
      for (let g = 0; g < G; g++) {
        for (let i = 0; i < M; i++)
          for (let k = 0; k < K; k++)
            opA[g * M * K + i * K + k] = ta ? A[g * M * K + k * M + i] : A[g * M * K + i * K + k];
        for (let k = 0; k < K; k++)
          for (let j = 0; j < N; j++)
            opB[g * K * N + k * N + j] = tb ? B[g * K * N + j * K + k] : B[g * K * N + k * N + j];
      }
      const want = new Float32Array(G * M * N);
      batchedGemm(opA, opB, want, G, M, N, K);
      const got = new Float32Array(G * M * N).fill(NaN);
      batchedGemmSimd(A, B, got, G, M, N, K, ta, tb);
      assert.ok(got.every(Number.isFinite), `${M}×${K}·${K}×${N} ta=${ta} tb=${tb}: unwritten outputs`);
      const e = relErr(got, want);
      assert.ok(e <= 1e-5, `${M}×${K}·${K}×${N} ta=${ta} tb=${tb}: relative error ${e}`);
    }
  }
});
