import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { dataParallelStep, WorkerPool } from "./pool";
import { setup, ProbeConfig } from "./probe-task";
import { averageShards, splitRange } from "./task";

const MODULE = path.join(__dirname, "probe-task.ts");
const CONFIG: ProbeConfig = { seed: 3, batch: 5, size: 8, channels: 4, width: 16 };

test("splitRange: contiguous, covers the batch, first shards one larger", () => {
  assert.deepEqual(splitRange(5, 2), [[0, 3], [3, 5]]);
  assert.deepEqual(splitRange(4, 2), [[0, 2], [2, 4]]);
  assert.deepEqual(splitRange(2, 4), [[0, 1], [1, 2]]);
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
