import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { AdamW, clipByGlobalNorm, Ema, NonFiniteError } from "./optim";
import { latestCheckpoint, restoreCheckpoint, saveCheckpoint } from "./checkpoint";
import type { ParamSpec, Params } from "../models/params";
import { Progress } from "./progress";

test.before(async () => {
  await tf.setBackend("cpu");
});

test("AdamW follows torch.optim.AdamW's update, step by step, on hand-computed numbers", () => {
  const p: Params = new Map([["w", tf.variable(tf.tensor1d([1, -2]))]]);
  const opt = new AdamW({ weightDecay: 0.1 });
  const grads = [[0.5, -1], [0.2, 0.3], [-0.4, 0.1]];
  // reference in float64: decoupled decay, then the bias-corrected Adam step
  let w = [1, -2], m = [0, 0], v = [0, 0];
  const lr = 0.01;
  grads.forEach((g, k) => {
    const t = k + 1;
    w = w.map((x, i) => {
      x = x * (1 - lr * 0.1);
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      return x - (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
    });
    const gt = new Map([["w", tf.tensor1d(g)]]);
    opt.apply(p, gt, lr);
    tf.dispose([...gt.values()]);
  });
  const got = p.get("w")!.dataSync();
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - w[i]) < 1e-6, `${got[i]} vs ${w[i]}`);
  opt.dispose();
  p.get("w")!.dispose();
});

test("AdamW and clipping leak no tensors over many steps", () => {
  const p: Params = new Map([["a", tf.variable(tf.ones([3, 3]))], ["b", tf.variable(tf.zeros([4]))]]);
  const opt = new AdamW({});
  opt.apply(p, new Map([["a", tf.ones([3, 3])]]), 1e-3); // allocates the moments of "a" once
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const g = new Map<string, tf.Tensor>([["a", tf.ones([3, 3])]]);
    clipByGlobalNorm(g, 0.5);
    opt.apply(p, g, 1e-3);
    tf.dispose([...g.values()]);
  }
  assert.equal(tf.memory().numTensors, before);
  opt.dispose();
  p.forEach((v) => v.dispose());
});

test("clipByGlobalNorm scales to the max norm and stops NaN with a named error", () => {
  const g = new Map<string, tf.Tensor>([["x", tf.tensor1d([3, 0])], ["y", tf.tensor1d([4])]]);
  const n = clipByGlobalNorm(g, 1);
  assert.equal(n, 5);
  const after = Math.hypot(...g.get("x")!.dataSync(), ...g.get("y")!.dataSync());
  assert.ok(Math.abs(after - 1) < 1e-5);
  const bad = new Map<string, tf.Tensor>([["ok", tf.tensor1d([1])], ["conv.weight", tf.tensor1d([NaN])]]);
  assert.throws(() => clipByGlobalNorm(bad, 1), (e: Error) => e instanceof NonFiniteError && /gradient of conv.weight is not finite/.test(e.message));
  tf.dispose([...g.values(), ...bad.values()]);
});

test("EMA moves towards the weights by (1 − decay)", () => {
  const p: Params = new Map([["w", tf.variable(tf.tensor1d([0]))]]);
  const ema = new Ema(0.9, p);
  p.get("w")!.assign(tf.tensor1d([1]));
  ema.update(p);
  assert.ok(Math.abs(ema.shadow.get("w")!.dataSync()[0] - 0.1) < 1e-7);
  ema.dispose();
  p.get("w")!.dispose();
});

test("checkpoints: atomic folder + latest pointer, exact restore of weights, moments and EMA, pruning", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-"));
  const specs: ParamSpec[] = [
    { name: "conv.weight", shape: [3, 3, 2, 4], layout: "conv2d" },
    { name: "proj.weight", shape: [4, 5], layout: "linear" },
  ];
  const mk = (seed: number): Params => new Map(specs.map((s) => [s.name, tf.variable(tf.randomNormal(s.shape, 0, 1, "float32", seed))]));
  const p = mk(1);
  const opt = new AdamW({});
  const grads = new Map<string, tf.Tensor>(specs.map((s) => [s.name, tf.ones(s.shape)]));
  opt.apply(p, grads, 0.1);
  const ema = new Ema(0.99, p);
  assert.equal(latestCheckpoint(dir), undefined);
  for (const step of [10, 20, 30]) await saveCheckpoint(dir, { step, components: [{ name: "unet", params: p, specs }], optimizer: opt, ema, state: { lr: 0.1 } }, 2);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith("step-")).sort(), ["step-0000020", "step-0000030"]);
  assert.ok(!fs.readdirSync(dir).some((f) => f.startsWith(".tmp")));
  const latest = latestCheckpoint(dir)!;
  assert.equal(latest.step, 30);
  assert.equal(latest.state.lr, 0.1);
  // restore into fresh variables and compare bytes
  const q = mk(2);
  const opt2 = new AdamW({});
  const ema2 = new Ema(0.99, q);
  const before = tf.memory().numTensors;
  restoreCheckpoint(latest.path, { components: [{ name: "unet", params: q, specs }], optimizer: opt2, ema: ema2 });
  assert.equal(tf.memory().numTensors, before + 2 * specs.length - 0, "restore adds only the optimizer moments");
  for (const s of specs) {
    assert.deepEqual(q.get(s.name)!.dataSync(), p.get(s.name)!.dataSync());
    assert.deepEqual(opt2.m.get(s.name)!.dataSync(), opt.m.get(s.name)!.dataSync());
    assert.deepEqual(opt2.v.get(s.name)!.dataSync(), opt.v.get(s.name)!.dataSync());
    assert.deepEqual(ema2.shadow.get(s.name)!.dataSync(), ema.shadow.get(s.name)!.dataSync());
  }
  assert.equal(opt2.step, 1);
  // a pointer to a half-written checkpoint is a clear error
  fs.writeFileSync(path.join(dir, "latest"), "step-0000099\n");
  assert.throws(() => latestCheckpoint(dir), /incomplete \(no state.json\): delete .*latest to start over/);
  [opt, opt2, ema, ema2].forEach((x) => x.dispose());
  [...p.values(), ...q.values(), ...grads.values()].forEach((v) => v.dispose());
  fs.rmSync(dir, { recursive: true, force: true });
});

test("progress line shows rate, ETA and values", () => {
  const pr = new Progress({ label: "train", total: 100 });
  const line = pr.line(50, { loss: 0.1234567 });
  assert.match(line, /^train  50% █{10}░{10} 50\/100 .* it\/s .*eta .*loss 0.1235$/);
});
