import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeSchedule } from "../schedules";
import { diffusionLoss, minSnrWeights, withOffsetNoise } from "./loss";
import { randomNormal } from "../random";
import { PREDICTION_TYPES } from "./forward";

test.before(async () => {
  await tf.setBackend("cpu");
});

test("min-SNR-γ weights follow Hang et al. eq. 8 and stay finite at SNR = 0 (diffusers PR 4505)", () => {
  const s = makeSchedule({ kind: "sigmoid", zeroTerminalSnr: true });
  const t = [0, 300, 999];
  for (const p of PREDICTION_TYPES) {
    const w = minSnrWeights(s, t, 5, p);
    for (const x of w) assert.ok(Number.isFinite(x), `${p}: ${w}`);
  }
  const e = minSnrWeights(s, t, 5, "epsilon");
  assert.ok(Math.abs(e[0] - 5 / s.snr[0]) < 1e-6, "high SNR: γ/SNR");
  assert.equal(e[2], 1, "SNR = 0: weight 1");
  const v = minSnrWeights(s, t, 5, "v_prediction");
  assert.equal(v[2], 0, "v at SNR = 0: min(0, γ)/(0 + 1) = 0");
});

test("diffusionLoss equals the weighted per-sample MSE computed by hand, and leaks nothing", () => {
  const s = makeSchedule({ kind: "linear" });
  const x0 = randomNormal([3, 4, 4, 2], 1, "x0") as tf.Tensor4D;
  const noise = randomNormal([3, 4, 4, 2], 1, "n") as tf.Tensor4D;
  const t = Int32Array.from([5, 500, 990]);
  const w = Float32Array.from([0.2, 0.3, 0.5]);
  const model = (xt: tf.Tensor4D) => tf.mul(xt, 0.5) as tf.Tensor4D; // any deterministic function
  const before = tf.memory().numTensors;
  const loss = diffusionLoss(model, x0, noise, t, w, { schedule: s, predictionType: "epsilon" });
  const got = loss.dataSync()[0];
  loss.dispose();
  assert.equal(tf.memory().numTensors, before);
  const [X, N] = [x0.dataSync(), noise.dataSync()];
  let expected = 0;
  for (let b = 0; b < 3; b++) {
    const a = s.sqrtAlphasCumprod[t[b]],
      c = s.sqrtOneMinusAlphasCumprod[t[b]];
    let m = 0;
    for (let i = 0; i < 32; i++) {
      const k = b * 32 + i;
      m += (0.5 * (a * X[k] + c * N[k]) - N[k]) ** 2;
    }
    expected += w[b] * (m / 32);
  }
  assert.ok(Math.abs(got - expected) < 1e-5 * Math.max(1, expected), `${got} vs ${expected}`);
  assert.throws(
    () => diffusionLoss(model, x0, noise, t.slice(0, 2), w, { schedule: s, predictionType: "epsilon" }),
    /batch 3 but 2 timesteps/,
  );
  tf.dispose([x0, noise]);
});

test("offset noise adds one shift per sample and channel", () => {
  const n = tf.zeros([2, 3, 3, 2]) as tf.Tensor4D;
  const off = tf.tensor2d([
    [1, 2],
    [3, 4],
  ]);
  const r = withOffsetNoise(n, off, 0.1);
  const d = r.dataSync();
  assert.ok(
    Math.abs(d[0] - 0.1) < 1e-7 &&
      Math.abs(d[1] - 0.2) < 1e-7 &&
      Math.abs(d[18] - 0.3) < 1e-7 &&
      Math.abs(d[35] - 0.4) < 1e-7,
  );
  tf.dispose([n, off, r]);
});
