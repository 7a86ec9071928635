import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { registerTrainingKernels } from "./index";
import { leadingAxes, setSimdSum, sumRows } from "./reduce";
import { runOn, wasmVsCpu } from "./test-util";
import { initBackend } from "../backend";

test("leadingAxes recognises exactly the reductions over the first k < rank axes", () => {
  assert.equal(leadingAxes([0, 1, 2], 4), 3);
  assert.equal(leadingAxes([1, 0], 3), 2);
  assert.equal(leadingAxes([-3, -2], 3), 2); // negative axes count from the end
  assert.equal(leadingAxes(0, 2), 1);
  assert.equal(leadingAxes([0, 1], 2), 0); // every axis: already innermost, native
  assert.equal(leadingAxes([1], 3), 0);
  assert.equal(leadingAxes([0, 2], 3), 0);
  assert.equal(leadingAxes([0, 0], 3), 0);
});

test("sumRows adds rows in float64 (hand-computed)", () => {
  const out = new Float32Array(2);
  sumRows(Float32Array.from([1, 2, 3, 4, 1e8, -1e8]), 3, 2, out);
  assert.deepEqual(Array.from(out), [1e8 + 4, 6 - 1e8].map(Math.fround));
  sumRows(Float32Array.from([1e8, 1, -1e8]), 3, 1, out);
  assert.equal(out[0], 1, "float64 accumulation keeps the 1 that float32 would lose");
});

test("sumRows: the SIMD path gives the JavaScript loop's sums bit for bit (same float64 order), float64 kept", () => {
  const wide = new Float32Array(3 * 8);
  wide.set([1e8, 1, 2, 3, 4, 5, 6, 7], 0);
  wide.set([1, 1, 1, 1, 1, 1, 1, 1], 8);
  wide.set([-1e8, 0, 0, 0, 0, 0, 0, 0], 16);
  const simd = new Float32Array(8);
  sumRows(wide, 3, 8, simd);
  assert.equal(simd[0], 1, "float64 accumulation keeps the 1 that float32 would lose");
  for (const [rows, cols] of [
    [1, 4],
    [3, 8],
    [1000, 64],
    [77, 96],
    [5, 12],
  ]) {
    const x = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
    const [a, b] = [new Float32Array(cols), new Float32Array(cols)];
    sumRows(x, rows, cols, a);
    setSimdSum(false);
    try {
      sumRows(x, rows, cols, b);
    } finally {
      setSimdSum(true);
    }
    assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer), `${rows}×${cols}`);
  }
});

test("Sum over leading axes on wasm equals cpu's (values and keepDims shapes), other axes unchanged, no leaks", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  registerTrainingKernels();
  const cases: [number[], number | number[], boolean][] = [
    [[4, 6, 6, 8], [0, 1, 2], false], // a conv bias gradient
    [[3, 77, 24], [0, 1], true],
    [[5, 7], 0, false],
    [[5, 7], -2, true],
    [[2, 3, 4], [1, 2], false], // innermost: native
    [[2, 3, 4], [0, 2], false], // mixed: native
    [[2, 3, 4], [0, 1, 2], false], // all: native
  ];
  for (const [shape, axis, keepDims] of cases) {
    const f = (x: tf.Tensor) => tf.sum(x, axis, keepDims);
    const err = await wasmVsCpu([{ shape, seed: 5 }], f);
    assert.ok(err <= 1e-6, `[${shape}] axis ${axis}: relative error ${err}`);
    const [w] = await runOn("wasm", [{ shape, seed: 5 }], (x) => tf.tensor1d(f(x).shape));
    const [c] = await runOn("cpu", [{ shape, seed: 5 }], (x) => tf.tensor1d(f(x).shape));
    assert.deepEqual(Array.from(w), Array.from(c), `[${shape}] axis ${axis} keepDims ${keepDims}: shape`);
  }
  await tf.setBackend("wasm");
  // the project kernel is the one that runs: it keeps the 1 that a float32 running sum loses
  const probe = tf.tensor2d([[1e8], [1], [-1e8]]);
  const probeSum = tf.sum(probe, 0);
  assert.equal((await probeSum.data())[0], 1);
  tf.dispose([probe, probeSum]);
  const x = tf.ones([8, 4, 4, 16]);
  const before = tf.memory().numTensors;
  const s = tf.sum(x, [0, 1, 2]);
  assert.deepEqual(Array.from(await s.data()), new Array(16).fill(128));
  s.dispose();
  assert.equal(tf.memory().numTensors, before, "leaked tensors");
  x.dispose();
});
