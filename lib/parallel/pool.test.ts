import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { dataParallelStep, WorkerPool } from "./pool";
import { setup, ProbeConfig } from "./fixtures/probe-task";
import { averageShards, splitRange, weightedSum } from "./task";

const MODULE = path.join(__dirname, "fixtures", "probe-task.ts");
const CONFIG: ProbeConfig = { seed: 3, batch: 5, size: 8, channels: 4, width: 16 };

test("splitRange: contiguous, covers the batch, first shards one larger", () => {
  assert.deepEqual(splitRange(5, 2), [
    [0, 3],
    [3, 5],
  ]);
  assert.deepEqual(splitRange(4, 2), [
    [0, 2],
    [2, 4],
  ]);
  assert.deepEqual(splitRange(2, 4), [
    [0, 1],
    [1, 2],
  ]);
  assert.throws(() => splitRange(0, 2), /n must be a positive integer/);
});

test("averageShards weights each shard by its sample count (hand-computed)", () => {
  const r = averageShards([
    { loss: 1, count: 3, grads: [Float32Array.from([3, 0])] },
    { loss: 4, count: 1, grads: [Float32Array.from([-1, 8])] },
  ]);
  assert.deepEqual(Array.from(r.grads[0]), [(3 * 3 - 1) / 4, 8 / 4]);
  assert.equal(r.loss, (3 * 1 + 4) / 4);
});

test("weightedSum's unrolled one- and two-input loops give the bytes of the generic loop", () => {
  // the generic loop as it stands for three or more inputs: float64 sum from 0, in input order
  const generic = (inputs: Float32Array[], w: number[], out: Float32Array, lo: number, hi: number) => {
    for (let i = lo; i < hi; i++) {
      let acc = 0;
      for (let k = 0; k < inputs.length; k++) acc += w[k] * inputs[k][i];
      out[i] = acc;
    }
  };
  const n = 1000;
  const r = (k: number) => Math.fround(Math.sin(k * 7.13) * 1e3);
  const a = Float32Array.from({ length: n }, (_, i) => (i === 0 ? -0 : r(i)));
  const b = Float32Array.from({ length: n }, (_, i) => (i === 0 ? -0 : i === 1 ? 1e-45 : r(i + n)));
  for (const [ins, w] of [
    [[a], [1]],
    [[a], [0.3]],
    [
      [a, b],
      [0.75, 0.25],
    ],
    [
      [a, b],
      [1 / 3, 2 / 3],
    ],
  ] as [Float32Array[], number[]][]) {
    const want = new Float32Array(n).fill(9);
    const got = new Float32Array(n).fill(9);
    generic(ins, w, want, 0, n - 1);
    weightedSum(ins, w, got, 0, n - 1);
    assert.deepEqual(new Uint8Array(got.buffer), new Uint8Array(want.buffer), `${ins.length} inputs, weights ${w}`);
    // in place, as the workers reduce into their own gradient buffer
    const inPlace = ins.map((x) => x.slice());
    weightedSum(inPlace, w, inPlace[0], 0, n - 1);
    const wantInPlace = want.slice();
    wantInPlace[n - 1] = ins[0][n - 1]; // outside [lo, hi): untouched
    assert.deepEqual(
      new Uint8Array(inPlace[0].buffer),
      new Uint8Array(wantInPlace.buffer),
      `in place, ${ins.length} inputs`,
    );
  }
  const zero = new Float32Array(1);
  weightedSum([Float32Array.from([-0])], [1], zero, 0, 1);
  assert.ok(Object.is(zero[0], 0), "−0 · 1 summed from 0 is +0, as in the generic loop");
});

test("2 workers: averaged gradients equal the single-process full-batch gradient; two runs give identical bytes", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const local = setup(CONFIG);
  const before = tf.memory().numTensors;
  const full = await local.lossAndGrads([0, CONFIG.batch]);
  assert.equal(tf.memory().numTensors, before, "lossAndGrads leaked tensors");
  local.dispose();

  const runs: Float32Array[][] = [];
  for (let run = 0; run < 2; run++) {
    const pool = await WorkerPool.start({ module: MODULE, config: CONFIG, size: 2 });
    try {
      const r = await pool.lossAndGrads(splitRange(CONFIG.batch, 2));
      assert.ok(Math.abs(r.loss - full.loss) <= 1e-5 * Math.abs(full.loss), `loss ${r.loss} vs ${full.loss}`);
      r.grads.forEach((g, j) => {
        let num = 0;
        let den = 0;
        for (let k = 0; k < g.length; k++) {
          num = Math.max(num, Math.abs(g[k] - full.grads[j][k]));
          den = Math.max(den, Math.abs(full.grads[j][k]));
        }
        assert.ok(num <= 1e-5 * den, `${pool.params[j].name}: relative error ${num / den}`);
      });
      runs.push(r.grads);
    } finally {
      await pool.close();
    }
  }
  runs[0].forEach((g, j) => assert.deepEqual(Buffer.from(g.buffer), Buffer.from(runs[1][j].buffer)));
});

test("dataParallelStep applies the update on the main thread and every worker gets the new weights", async () => {
  const pool = await WorkerPool.start({ module: MODULE, config: CONFIG, size: 2 });
  try {
    const w0 = await pool.getWeights(0);
    const sgd = (w: Float32Array[], g: Float32Array[]) => w.map((wi, i) => wi.map((v, k) => v - 0.1 * g[i][k]));
    const { weights, loss } = await dataParallelStep(pool, w0, splitRange(CONFIG.batch, 2), sgd);
    assert.ok(Number.isFinite(loss));
    const [a, b] = [await pool.getWeights(0), await pool.getWeights(1)];
    weights.forEach((w, i) => {
      assert.deepEqual(Buffer.from(a[i].buffer), Buffer.from(w.buffer));
      assert.deepEqual(Buffer.from(b[i].buffer), Buffer.from(w.buffer));
    });
    assert.notDeepEqual(Array.from(weights[0]), Array.from(w0[0]));
  } finally {
    await pool.close();
  }
});

test("bad input: relative module path and a task error are clear errors", async () => {
  await assert.rejects(WorkerPool.start({ module: "probe-task.ts", size: 1 }), /module must be an absolute path/);
  const pool = await WorkerPool.start({ module: MODULE, config: CONFIG, size: 1 });
  try {
    await assert.rejects(pool.lossAndGrads([[0, 99]]), /shard \[0, 99\) outside the batch of 5/);
  } finally {
    await pool.close();
  }
});
