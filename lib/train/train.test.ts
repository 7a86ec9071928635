import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import {
  AdamW,
  adamwCoefficients,
  adamwElements,
  clipAdamwEmaElements,
  clipByGlobalNorm,
  Ema,
  emaElements,
  NonFiniteError,
} from "./optim";
import { latestCheckpoint, restoreCheckpoint, saveCheckpoint } from "./checkpoint";
import type { ParamSpec, Params } from "../models/params";
import { Progress } from "./progress";

test.before(async () => {
  await tf.setBackend("cpu");
});

for (const fused of [false, true]) {
  test(`AdamW (${fused ? "fused JavaScript loop" : "tfjs ops"}) follows torch.optim.AdamW's update, step by step, on hand-computed numbers`, () => {
    const p: Params = new Map([["w", tf.variable(tf.tensor1d([1, -2]))]]);
    const opt = new AdamW({ weightDecay: 0.1, fused });
    const grads = [
      [0.5, -1],
      [0.2, 0.3],
      [-0.4, 0.1],
    ];
    // reference in float64: decoupled decay, then the bias-corrected Adam step
    let w = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
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

  test(`AdamW (${fused ? "fused" : "tfjs ops"}) and clipping leak no tensors over many steps`, () => {
    const p: Params = new Map([
      ["a", tf.variable(tf.ones([3, 3]))],
      ["b", tf.variable(tf.zeros([4]))],
    ]);
    const opt = new AdamW({ fused });
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
}

test("the fused AdamW and EMA equal the tfjs-op versions within float32 rounding over 20 steps", () => {
  const init = () =>
    new Map([
      ["a", tf.variable(tf.randomNormal([64, 33], 0, 1, "float32", 1))],
      ["b", tf.variable(tf.randomNormal([7], 0, 1, "float32", 2))],
    ]) as Params;
  const [p1, p2] = [init(), init()];
  const [o1, o2] = [new AdamW({ fused: false, weightDecay: 0.05 }), new AdamW({ fused: true, weightDecay: 0.05 })];
  const [e1, e2] = [new Ema(0.9, p1, false), new Ema(0.9, p2, true)];
  let before = 0;
  for (let k = 0; k < 20; k++) {
    if (k === 1) before = tf.memory().numTensors; // the moments exist after the first step
    for (const [p, o, e] of [
      [p1, o1, e1],
      [p2, o2, e2],
    ] as const) {
      const g = new Map<string, tf.Tensor>([
        ["a", tf.randomNormal([64, 33], 0, 1, "float32", 100 + k)],
        ["b", tf.randomNormal([7], 0, 1, "float32", 200 + k)],
      ]);
      o.apply(p, g, 1e-2);
      e.update(p);
      tf.dispose([...g.values()]);
    }
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak in either path once the moments exist");
  for (const k of ["a", "b"]) {
    for (const [x, y, what] of [
      [p1.get(k)!, p2.get(k)!, "weights"],
      [o1.m.get(k)!, o2.m.get(k)!, "m"],
      [o1.v.get(k)!, o2.v.get(k)!, "v"],
      [e1.shadow.get(k)!, e2.shadow.get(k)!, "ema"],
    ] as const) {
      const a = x.dataSync();
      const b = y.dataSync();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(a[i]) + 1e-3));
      assert.ok(worst < 1e-4, `${what} of ${k}: relative difference ${worst}`);
    }
  }
  [o1, o2, e1, e2].forEach((o) => o.dispose());
  [...p1.values(), ...p2.values()].forEach((v) => v.dispose());
});

test("clipByGlobalNorm scales to the max norm and stops NaN with a named error", () => {
  const g = new Map<string, tf.Tensor>([
    ["x", tf.tensor1d([3, 0])],
    ["y", tf.tensor1d([4])],
  ]);
  const n = clipByGlobalNorm(g, 1);
  assert.equal(n, 5);
  const after = Math.hypot(...g.get("x")!.dataSync(), ...g.get("y")!.dataSync());
  assert.ok(Math.abs(after - 1) < 1e-5);
  const bad = new Map<string, tf.Tensor>([
    ["ok", tf.tensor1d([1])],
    ["conv.weight", tf.tensor1d([NaN])],
  ]);
  assert.throws(
    () => clipByGlobalNorm(bad, 1),
    (e: Error) => e instanceof NonFiniteError && /gradient of conv.weight is not finite/.test(e.message),
  );
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
  const mk = (seed: number): Params =>
    new Map(specs.map((s) => [s.name, tf.variable(tf.randomNormal(s.shape, 0, 1, "float32", seed))]));
  const p = mk(1);
  const opt = new AdamW({});
  const grads = new Map<string, tf.Tensor>(specs.map((s) => [s.name, tf.ones(s.shape)]));
  opt.apply(p, grads, 0.1);
  const ema = new Ema(0.99, p);
  assert.equal(latestCheckpoint(dir), undefined);
  for (const step of [10, 20, 30])
    await saveCheckpoint(
      dir,
      { step, components: [{ name: "unet", params: p, specs }], optimizer: opt, ema, state: { lr: 0.1 } },
      2,
    );
  assert.deepEqual(
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith("step-"))
      .sort(),
    ["step-0000020", "step-0000030"],
  );
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
  assert.match(line, /^train {2}50% █{10}░{10} 50\/100 .* it\/s .*eta .*loss 0.1235$/);
});

test("the fused clip + AdamW + EMA loop gives the bytes of the separate loops (workers' shared update)", () => {
  // values that probe the rounding: ordinary, tiny (float32 subnormal after β·m), signed zeros
  const n = 4099;
  const r = (k: number) => Math.sin(k * 12.9898) * 43758.5453 - Math.floor(Math.sin(k * 12.9898) * 43758.5453) - 0.5;
  const init = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const special = [0, -0, 1e-45, -1e-45, 1e-38, -3e-39];
  const base = {
    p: init((i) => (i < special.length ? special[i] : r(i))),
    m: init((i) => (i < special.length ? special[(i + 1) % special.length] : 0.01 * r(i + n))),
    v: init((i) => (i < special.length ? 0 : 1e-4 * Math.abs(r(i + 2 * n)))),
    g: init((i) => (i < special.length ? special[(i + 2) % special.length] : r(i + 3 * n))),
    e: init((i) => r(i + 4 * n)),
  };
  const c = adamwCoefficients({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }, 3e-4, 7);
  for (const scale of [null, 0.37]) {
    for (const withEma of [false, true]) {
      const a = Object.fromEntries(Object.entries(base).map(([k, x]) => [k, x.slice()])) as typeof base;
      const b = Object.fromEntries(Object.entries(base).map(([k, x]) => [k, x.slice()])) as typeof base;
      // the separate loops, as the workers ran them before (lo, hi inside the arrays)
      if (scale !== null) for (let i = 5; i < n - 3; i++) a.g[i] = a.g[i] * Math.fround(scale);
      adamwElements(a.p, a.p, a.m, a.v, a.g, 5, n - 3, c);
      if (withEma) emaElements(a.e, a.p, 5, n - 3, 0.995);
      clipAdamwEmaElements(b.p, b.m, b.v, b.g, 5, n - 3, c, scale ?? 1, withEma ? { shadow: b.e, decay: 0.995 } : null);
      for (const k of Object.keys(base) as (keyof typeof base)[]) {
        assert.deepEqual(
          new Uint8Array(b[k].buffer),
          new Uint8Array(a[k].buffer),
          `${k} differs (scale ${scale}, ema ${withEma})`,
        );
      }
      assert.notDeepEqual(b.p, base.p, "the update changed nothing: the comparison would prove nothing");
    }
  }
});
