import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { ParamSpec, Params } from "../models/params";
import { batchIndices, learningRate, localSource, trainLoop, StepShard } from "./trainer";
import { deriveSeed } from "../random";
import { NonFiniteError } from "./optim";

test.before(async () => {
  await tf.setBackend("cpu");
});

const specs: ParamSpec[] = [
  { name: "w", shape: [4, 1], layout: "linear" },
  { name: "b", shape: [1], layout: "same" },
];
// a regression problem: y = X·[1, −2, 0.5, 3] + 0.7 + noise, 64 samples
const N = 64;
const X = tf.randomNormal([N, 4], 0, 1, "float32", 11);
const Y = tf.add(tf.matMul(X, tf.tensor2d([[1], [-2], [0.5], [3]])), 0.7);

function model(seed: number): Params {
  return new Map(specs.map((s) => [s.name, tf.variable(tf.randomNormal(s.shape, 0, 0.1, "float32", seed))]));
}
function loss(p: Params, noiseScale = 0.1) {
  return (shard: StepShard) =>
    tf.tidy(() => {
      const idx = tf.tensor1d(shard.samples, "int32");
      // per-step noise derived from (seed, step): exactly reproducible on resume
      const y = tf.add(
        tf.gather(Y, idx),
        tf.randomNormal([shard.samples.length, 1], 0, noiseScale, "float32", deriveSeed(0, "noise", shard.step)),
      );
      const pred = tf.add(tf.matMul(tf.gather(X, idx), p.get("w")!), p.get("b")!);
      return tf.mean(tf.squaredDifference(pred, y)) as tf.Scalar;
    });
}
const base = (dir: string, p: Params) => ({
  label: "test",
  outDir: dir,
  totalSteps: 12,
  batchSize: 8,
  datasetSize: N,
  seed: 3,
  lr: { lr: 0.05, warmupSteps: 2 },
  clipNorm: 10,
  emaDecay: 0.9,
  checkpointEvery: 4,
  components: [{ name: "model", params: p, specs }],
  source: localSource(p, loss(p)),
  config: { what: "test" },
  quiet: true,
});

test("the loop learns, logs a CSV, snapshots its config, checkpoints, and leaks no tensors", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "train-"));
  const p = model(1);
  const before = tf.memory().numTensors;
  const r = await trainLoop({ ...base(dir, p), totalSteps: 60 });
  r.ema?.dispose();
  assert.equal(tf.memory().numTensors, before);
  const rows = fs.readFileSync(path.join(dir, "log.csv"), "utf8").trim().split("\n");
  assert.equal(rows[0], "step,loss,lr,grad_norm,seconds");
  assert.equal(rows.length, 61);
  const first = Number(rows[1].split(",")[1]);
  assert.ok(r.lastLoss < first / 5, `loss ${first} → ${r.lastLoss}`);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")), { what: "test" });
  assert.ok(fs.existsSync(path.join(dir, "checkpoints", "step-0000060", "model.safetensors")));
  p.forEach((v) => v.dispose());
});

test("an interrupted and resumed run gives exactly the same weights as an uninterrupted one", async () => {
  const a = fs.mkdtempSync(path.join(os.tmpdir(), "train-a-"));
  const b = fs.mkdtempSync(path.join(os.tmpdir(), "train-b-"));
  const pa = model(1);
  const ra = await trainLoop(base(a, pa));
  ra.ema?.dispose();
  // b: stop after step 6 (last checkpoint at 4), throw the process state away, resume in fresh variables
  const pb1 = model(1);
  (await trainLoop({ ...base(b, pb1), stopAfter: 6 })).ema?.dispose();
  pb1.forEach((v) => v.dispose());
  const pb2 = model(1); // the same starting weights in fresh variables: the rest comes from the checkpoint
  const rb = await trainLoop(base(b, pb2));
  rb.ema?.dispose();
  assert.equal(rb.resumedFrom, 4);
  for (const s of specs)
    assert.deepEqual(
      Buffer.from(pb2.get(s.name)!.dataSync().buffer),
      Buffer.from(pa.get(s.name)!.dataSync().buffer),
      s.name,
    );
  // the resumed log is the uninterrupted log except for the timing column
  const strip = (d: string) =>
    fs
      .readFileSync(path.join(d, "log.csv"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(",").slice(0, 4).join(","));
  assert.deepEqual(strip(b), strip(a));
  [...pa.values(), ...pb2.values()].forEach((v) => v.dispose());
});

test("NaN in the loss stops training with a clear error and leaves the last checkpoint intact", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "train-nan-"));
  const p = model(1);
  const bad = (shard: StepShard) =>
    shard.step >= 5 ? tf.tidy(() => tf.mul(loss(p)(shard), NaN) as tf.Scalar) : loss(p)(shard);
  await assert.rejects(
    trainLoop({ ...base(dir, p), source: localSource(p, bad) }),
    (e: Error) => e instanceof NonFiniteError && /loss is NaN at step 6: the last checkpoint is intact/.test(e.message),
  );
  assert.ok(fs.existsSync(path.join(dir, "checkpoints", "step-0000004", "model.safetensors")));
  p.forEach((v) => v.dispose());
});

test("batch indices: a permutation per epoch, a function of (seed, step) only", () => {
  const all = [0, 1, 2, 3].flatMap((s) => batchIndices(1, s, 4, 16));
  assert.deepEqual(
    [...all].sort((x, y) => x - y),
    Array.from({ length: 16 }, (_, i) => i),
  );
  assert.deepEqual(batchIndices(1, 7, 5, 16), batchIndices(1, 7, 5, 16));
  assert.notDeepEqual(batchIndices(1, 0, 16, 16), batchIndices(2, 0, 16, 16));
  assert.equal(learningRate(0, { lr: 1, warmupSteps: 4, totalSteps: 10 }), 0.25);
  assert.ok(Math.abs(learningRate(10, { lr: 1, totalSteps: 10, decay: "cosine", minLr: 0.1 }) - 0.1) < 1e-12);
});

test("logSeconds: false writes a log without wall-clock, byte-identical across runs", async () => {
  const logs: string[] = [];
  for (const seed of [1, 1]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "train-untimed-"));
    const p = model(seed);
    (await trainLoop({ ...base(dir, p), totalSteps: 5, logSeconds: false })).ema?.dispose();
    logs.push(fs.readFileSync(path.join(dir, "log.csv"), "utf8"));
    p.forEach((v) => v.dispose());
  }
  assert.equal(logs[0].split("\n")[0], "step,loss,lr,grad_norm");
  assert.equal(logs[0].trim().split("\n").length, 6);
  assert.equal(logs[1], logs[0]);
});

test("fresh: a finished run's checkpoint is set aside and the run trains again from step 0, to the same weights", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "train-fresh-flag-"));
  const p1 = model(1);
  const first = await trainLoop(base(dir, p1));
  first.ema?.dispose();
  const pr = model(1);
  const resumed = await trainLoop(base(dir, pr));
  resumed.ema?.dispose();
  pr.forEach((v) => v.dispose());
  assert.equal(resumed.stepsRun, 0, "without fresh the finished run is resumed at its end");
  const p2 = model(1);
  const again = await trainLoop({ ...base(dir, p2), fresh: true });
  again.ema?.dispose();
  assert.equal(again.resumedFrom, undefined);
  assert.equal(again.stepsRun, first.stepsRun);
  assert.ok(fs.existsSync(path.join(dir, "checkpoints.stale")));
  for (const s of specs)
    assert.deepEqual(
      Buffer.from(p2.get(s.name)!.dataSync().buffer),
      Buffer.from(p1.get(s.name)!.dataSync().buffer),
      s.name,
    );
  [...p1.values(), ...p2.values()].forEach((v) => v.dispose());
});

test("a checkpoint made from other starting weights (a new base model) is moved aside and training starts over", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "train-stale-"));
  const p1 = model(1);
  (await trainLoop({ ...base(dir, p1), stopAfter: 6 })).ema?.dispose();
  const p2 = model(7);
  const fresh = fs.mkdtempSync(path.join(os.tmpdir(), "train-fresh-"));
  const p3 = model(7);
  const r = await trainLoop(base(dir, p2));
  const ref = await trainLoop(base(fresh, p3));
  [r, ref].forEach((x) => x.ema?.dispose());
  assert.equal(r.resumedFrom, undefined);
  assert.ok(fs.existsSync(path.join(dir, "checkpoints.stale", "step-0000004")));
  for (const s of specs)
    assert.deepEqual(
      Buffer.from(p2.get(s.name)!.dataSync().buffer),
      Buffer.from(p3.get(s.name)!.dataSync().buffer),
      s.name,
    );
  [...p1.values(), ...p2.values(), ...p3.values()].forEach((v) => v.dispose());
});
