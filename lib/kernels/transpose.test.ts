import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { registerTrainingKernels } from "./index";
import { asBlockTranspose, blockTransposeSimd } from "./transpose";
import { runOn } from "./test-util";
import { initBackend } from "../backend";

test("asBlockTranspose finds the swap of two adjacent axis groups, and only that", () => {
  assert.deepEqual(asBlockTranspose([6, 5], [1, 0]), { G: 1, R: 6, C: 5, D: 1 });
  assert.deepEqual(asBlockTranspose([2, 64, 4, 24], [0, 2, 1, 3]), { G: 2, R: 64, C: 4, D: 24 });
  assert.deepEqual(asBlockTranspose([2, 3, 4, 5], [0, 3, 1, 2]), { G: 2, R: 12, C: 5, D: 1 });
  assert.deepEqual(asBlockTranspose([2, 3, 4, 5], [2, 3, 0, 1]), { G: 1, R: 6, C: 20, D: 1 });
  assert.deepEqual(asBlockTranspose([2, 3, 4, 5], [1, 2, 0, 3]), { G: 1, R: 2, C: 12, D: 5 });
  assert.equal(asBlockTranspose([2, 3, 4], [0, 1, 2]), null, "identity");
  assert.equal(asBlockTranspose([2, 3, 4], [2, 1, 0]), null, "a reversal is not one swap");
  assert.equal(asBlockTranspose([2, 3, 4, 5], [1, 0, 3, 2]), null, "two swaps");
});

test("blockTransposeSimd moves every element where the definition puts it (tiles, edge strips, blocks)", () => {
  for (const [G, R, C, D] of [
    [1, 1, 1, 1],
    [1, 4, 4, 1],
    [2, 7, 5, 1],
    [3, 9, 13, 1],
    [1, 64, 96, 1],
    [2, 5, 3, 4],
    [2, 6, 4, 24],
  ]) {
    const n = G * R * C * D;
    const src = Float32Array.from({ length: n }, (_, i) => i + 0.5);
    const dst = new Float32Array(n).fill(NaN);
    blockTransposeSimd(src, dst, G, R, C, D);
    for (let g = 0; g < G; g++)
      for (let i = 0; i < R; i++)
        for (let j = 0; j < C; j++)
          for (let d = 0; d < D; d++) {
            const want = src[((g * R + i) * C + j) * D + d];
            const got = dst[((g * C + j) * R + i) * D + d];
            if (got !== want) assert.fail(`[${G},${R},${C},${D}] (${g},${i},${j},${d}): ${got}, want ${want}`);
          }
  }
});

test("Transpose on wasm equals cpu's exactly for every permutation it takes over and those it leaves native, no leaks", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  registerTrainingKernels();
  const cases: [number[], number[]][] = [
    [
      [33, 40],
      [1, 0],
    ], // matrix, edge strips
    [
      [4, 64, 96],
      [0, 2, 1],
    ],
    [
      [2, 64, 4, 24],
      [0, 2, 1, 3],
    ], // attention head split
    [
      [2, 4, 64, 24],
      [0, 2, 1, 3],
    ], // and merge
    [
      [2, 16, 4, 6],
      [0, 2, 1, 3],
    ], // D = 6: native
    [
      [4, 8, 8, 16],
      [0, 3, 1, 2],
    ], // NHWC → NCHW
    [
      [4, 8, 8, 16],
      [3, 1, 2, 0],
    ], // not one swap: native
    [
      [3, 5],
      [1, 0],
    ], // small: native
  ];
  for (const [shape, perm] of cases) {
    const [w] = await runOn("wasm", [{ shape, seed: 3 }], (x) => tf.transpose(x, perm));
    const [c] = await runOn("cpu", [{ shape, seed: 3 }], (x) => tf.transpose(x, perm));
    assert.deepEqual(
      Buffer.from(w.buffer, w.byteOffset, w.byteLength),
      Buffer.from(c.buffer, c.byteOffset, c.byteLength),
      `[${shape}] perm ${perm}`,
    );
  }
  await tf.setBackend("wasm");
  const x = tf.ones([64, 96]);
  const before = tf.memory().numTensors;
  tf.transpose(x).dispose();
  assert.equal(tf.memory().numTensors, before, "leaked tensors");
  x.dispose();
});
