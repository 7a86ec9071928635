import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { registerTrainingKernels } from "./index";
import { runOn } from "./test-util";
import { initBackend } from "../backend";

test("SplitV on wasm equals cpu's exactly (last and inner axes, equal and given sizes, short and long runs), no leaks", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  registerTrainingKernels();
  const cases: [number[], number | number[], number][] = [
    [[2, 64, 768], 2, -1], // GEGLU's halves
    [[2, 8, 8, 192], [128, 64], 3], // a skip concat's gradient
    [[3, 5, 7], [2, 3, 2], 2], // runs shorter than 16: element loop
    [[4, 6, 5], [1, 5], 1], // inner axis: runs of size·inner
    [[6, 4], 3, 0], // outermost
  ];
  for (const [shape, splits, axis] of cases) {
    const f = (x: tf.Tensor) => tf.split(x, splits, axis);
    const w = await runOn("wasm", [{ shape, seed: 4 }], f);
    const c = await runOn("cpu", [{ shape, seed: 4 }], f);
    assert.equal(w.length, c.length);
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    w.forEach((part, k) => assert.deepEqual(bytes(part), bytes(c[k]), `[${shape}] ${splits} axis ${axis}: part ${k}`));
  }
  await tf.setBackend("wasm");
  const x = tf.ones([4, 8, 6]);
  const before = tf.memory().numTensors;
  tf.dispose(tf.split(x, [2, 4], -1));
  assert.equal(tf.memory().numTensors, before, "leaked tensors");
  x.dispose();
});
