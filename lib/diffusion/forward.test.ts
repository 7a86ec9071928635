import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeSchedule } from "../schedules";
import { addNoise, gather, PREDICTION_TYPES, predictX0AndEps, trainingTarget, velocity } from "./forward";
import { deriveSeed, randomInts, randomNormal, rng } from "../random";

test.before(async () => {
  await tf.setBackend("cpu");
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test("addNoise is the paper's Eq. 1, element by element", () => {
  const s = makeSchedule({ kind: "sigmoid", zeroTerminalSnr: true });
  const x0 = randomNormal([3, 4, 4, 2], 1, "x0");
  const eps = randomNormal([3, 4, 4, 2], 1, "eps");
  const t = [0, 500, 999];
  const xt = addNoise(s, x0, eps, t);
  const [X, E, Y] = [x0.dataSync(), eps.dataSync(), xt.dataSync()];
  const per = 4 * 4 * 2;
  const expected = new Float32Array(Y.length);
  for (let i = 0; i < Y.length; i++) {
    const k = t[Math.floor(i / per)];
    expected[i] = Math.sqrt(s.alphasCumprod[k]) * X[i] + Math.sqrt(1 - s.alphasCumprod[k]) * E[i];
  }
  close(Y, expected, 1e-6, "x_t");
  // at t = T under zero terminal SNR, x_T is the noise exactly: nothing of x_0 is left
  close(Y.slice(2 * per), E.slice(2 * per), 0, "x_T");
  tf.dispose([x0, eps, xt]);
});

test("targets: ε, v = sqrt(ᾱ)ε − sqrt(1−ᾱ)x0, x0; and every prediction type inverts back to (x0, ε)", () => {
  const s = makeSchedule({ kind: "linear", zeroTerminalSnr: true });
  const x0 = randomNormal([4, 2, 2, 3], 7, "x0");
  const eps = randomNormal([4, 2, 2, 3], 7, "eps");
  const t = [0, 10, 600, 999];
  const xt = addNoise(s, x0, eps, t);
  const v = velocity(s, x0, eps, t);
  const vd = v.dataSync();
  const [X, E] = [x0.dataSync(), eps.dataSync()];
  for (let i = 0; i < vd.length; i++) {
    const k = t[Math.floor(i / 12)];
    assert.ok(Math.abs(vd[i] - (s.sqrtAlphasCumprod[k] * E[i] - s.sqrtOneMinusAlphasCumprod[k] * X[i])) < 1e-6);
  }
  for (const p of PREDICTION_TYPES) {
    const target = trainingTarget(p, s, x0, eps, t);
    const { x0: x0hat, eps: epshat } = predictX0AndEps(p, s, xt, target, t);
    const [xh, eh] = [x0hat.dataSync(), epshat.dataSync()];
    for (let i = 0; i < xh.length; i++) {
      assert.ok(Number.isFinite(xh[i]) && Number.isFinite(eh[i]), `${p}: non-finite at ${i}`);
      const k = t[Math.floor(i / 12)];
      // At ᾱ_T = 0 epsilon prediction cannot recover x0 (documented: it returns 0); elsewhere all invert.
      if (!(p === "epsilon" && k === 999))
        assert.ok(Math.abs(xh[i] - X[i]) < 2e-4, `${p} x0 at ${i}: ${xh[i]} vs ${X[i]}`);
      else assert.equal(xh[i], 0);
      assert.ok(Math.abs(eh[i] - E[i]) < 2e-3, `${p} eps at ${i}: ${eh[i]} vs ${E[i]}`);
    }
    tf.dispose([target, x0hat, epshat]);
  }
  tf.dispose([x0, eps, xt, v]);
});

test("forward-process functions leak no tensors", () => {
  const s = makeSchedule({ kind: "cosine" });
  const x0 = tf.ones([2, 3, 3, 1]);
  const eps = tf.zeros([2, 3, 3, 1]);
  const before = tf.memory().numTensors;
  const outs = [
    addNoise(s, x0, eps, [1, 2]),
    velocity(s, x0, eps, [1, 2]),
    gather(s.betas, [1, 2], 4),
    ...PREDICTION_TYPES.map((p) => trainingTarget(p, s, x0, eps, [3, 4])),
    ...PREDICTION_TYPES.flatMap((p) => Object.values(predictX0AndEps(p, s, x0, eps, [3, 999]))),
  ];
  assert.equal(tf.memory().numTensors, before + outs.length);
  tf.dispose(outs);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x0, eps]);
});

test("bad input: mismatched shapes, wrong timestep count, out-of-range timestep", () => {
  const s = makeSchedule({ kind: "linear" });
  const a = tf.zeros([2, 2]);
  const b = tf.zeros([2, 3]);
  assert.throws(() => addNoise(s, a, b, [0, 1]), /x0 has shape \[2,2\] but noise has \[2,3\]/);
  assert.throws(() => addNoise(s, a, a, [0]), /timesteps has 1 entries but the batch has 2/);
  assert.throws(() => addNoise(s, a, a, [0, 1000]), /timestep 1000 is outside \[0, 999\]/);
  assert.throws(() => trainingTarget("x" as never, s, a, a, [0, 1]), /unknown prediction type "x"/);
  tf.dispose([a, b]);
});

test("seeded determinism: same seed, same bytes; different labels, different streams", () => {
  const a = randomNormal([64], 42, "noise").dataSync();
  const b = randomNormal([64], 42, "noise").dataSync();
  const c = randomNormal([64], 42, "other").dataSync();
  assert.deepEqual(Buffer.from(a.buffer), Buffer.from(b.buffer));
  assert.notDeepEqual(Buffer.from(a.buffer), Buffer.from(c.buffer));
  assert.deepEqual(randomInts(10, 1000, 3, "t"), randomInts(10, 1000, 3, "t"));
  assert.equal(rng(5, "x")(), rng(5, "x")());
  assert.notEqual(deriveSeed(1, "a"), deriveSeed(1, "b"));
  assert.ok(deriveSeed("anything") >= 0 && deriveSeed("anything") < 2 ** 31);
  // the draws look standard normal: mean ≈ 0, variance ≈ 1 over 100k samples (±5σ)
  const big = randomNormal([100000], 9).dataSync();
  let m = 0,
    v = 0;
  for (const x of big) m += x;
  m /= big.length;
  for (const x of big) v += (x - m) ** 2;
  v /= big.length;
  assert.ok(Math.abs(m) < 5 / Math.sqrt(1e5) && Math.abs(v - 1) < 0.03, `mean ${m} var ${v}`);
});
