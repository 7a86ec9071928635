import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { makeSchedule, NoiseSchedule } from "../schedules";
import { ddimStep, ddpmStep, guide, inferenceTimesteps, sample, Denoiser } from "./samplers";
import { PredictionType, PREDICTION_TYPES } from "./forward";
import { randomNormal } from "../random";

test.before(async () => {
  await tf.setBackend("cpu");
});

test("timestep spacings match Lin et al. 2023, Table 2 (T = 1000, 10 steps; 0-based here)", () => {
  // Table 2 lists 1-based timesteps: linspace 1 112 223 … 1000, leading 1 101 … 901, trailing 100 200 … 1000
  assert.deepEqual(inferenceTimesteps(1000, 10, "linspace"), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.deepEqual(inferenceTimesteps(1000, 10, "leading"), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  assert.deepEqual(inferenceTimesteps(1000, 10, "trailing"), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  // Stable Diffusion's leading spacing with steps_offset = 1
  assert.deepEqual(inferenceTimesteps(1000, 4, "leading", 1), [751, 501, 251, 1]);
  assert.deepEqual(inferenceTimesteps(1000, 1000, "trailing").slice(-3), [2, 1, 0]);
  assert.throws(() => inferenceTimesteps(1000, 0, "trailing"), /steps must be an integer in 1..1000/);
  assert.throws(() => inferenceTimesteps(1000, 5, "middle" as never), /unknown timestep spacing "middle"/);
});

test("DDIM with η = 1 takes exactly DDPM's posterior step (Song et al. 2021, §4.1), also at ᾱ_t = 0", () => {
  const s = makeSchedule({ kind: "sigmoid", zeroTerminalSnr: true });
  const xt = randomNormal([2, 3, 3, 1], 1, "xt");
  const out = randomNormal([2, 3, 3, 1], 1, "out");
  const z = randomNormal([2, 3, 3, 1], 1, "z");
  for (const p of PREDICTION_TYPES) {
    for (const [t, prev] of [
      [999, 899],
      [999, 998],
      [500, 400],
      [10, -1],
    ]) {
      if (p === "epsilon" && t === 999) continue; // ε-prediction cannot give x̂₀ at ᾱ_T = 0: see predictX0AndEps
      const a = ddimStep(s, out, t, prev, xt, { predictionType: p, eta: 1, noise: z });
      const b = ddpmStep(s, out, t, prev, xt, { predictionType: p, noise: prev >= 0 ? z : undefined });
      const [da, db] = [a.prevSample.dataSync(), b.prevSample.dataSync()];
      for (let i = 0; i < da.length; i++)
        assert.ok(
          Number.isFinite(da[i]) && Math.abs(da[i] - db[i]) < 2e-5,
          `${p} t=${t}→${prev}: ${da[i]} vs ${db[i]}`,
        );
      tf.dispose([a.prevSample, a.predOriginalSample, b.prevSample, b.predOriginalSample]);
    }
  }
  tf.dispose([xt, out, z]);
});

/**
 * The exact denoiser for data x₀ ~ N(μ, σ²) per dimension: E[x₀ | x_t] = μ + a σ²/(a²σ² + b²) · (x_t − a μ),
 * with a = sqrt(ᾱ_t), b = sqrt(1 − ᾱ_t). A correct sampler driven by it must return N(μ, σ²) samples.
 */
function gaussianDenoiser(s: NoiseSchedule, mu: number, sigma: number, p: PredictionType): Denoiser {
  return (xt, t) =>
    tf.tidy(() => {
      const a = s.sqrtAlphasCumprod[t];
      const b = s.sqrtOneMinusAlphasCumprod[t];
      const x0 = tf.add(tf.mul(tf.sub(xt, a * mu), (a * sigma * sigma) / (a * a * sigma * sigma + b * b)), mu);
      const eps = tf.div(tf.sub(xt, tf.mul(x0, a)), b);
      if (p === "sample") return x0;
      if (p === "epsilon") return eps;
      return tf.sub(tf.mul(eps, a), tf.mul(x0, b)); // v
    });
}

async function stats(x: tf.Tensor): Promise<{ mean: number; std: number; finite: boolean }> {
  const d = await x.data();
  let m = 0;
  let finite = true;
  for (const v of d) {
    m += v;
    finite &&= Number.isFinite(v);
  }
  m /= d.length;
  let v2 = 0;
  for (const v of d) v2 += (v - m) ** 2;
  return { mean: m, std: Math.sqrt(v2 / d.length), finite };
}

test("zero terminal SNR + trailing spacing samples without NaN for every prediction type, DDPM and DDIM", async () => {
  const s = makeSchedule({ kind: "linear", zeroTerminalSnr: true });
  for (const p of PREDICTION_TYPES) {
    for (const scheduler of ["ddim", "ddpm"] as const) {
      // μ = 0 so that ε-prediction's documented x̂₀ = 0 at ᾱ_T = 0 is the exact answer too
      const before = tf.memory().numTensors;
      // With the exact E[x₀ | x_t] both samplers lose a little variance per step (DDIM: Cauchy–Schwarz on its linear
      // update; DDPM: the posterior ignores the uncertainty of x̂₀), an error that vanishes as steps → T.
      const steps = 500;
      const x = await sample({
        schedule: s,
        model: gaussianDenoiser(s, 0, 0.5, p),
        shape: [4000, 1],
        steps,
        spacing: "trailing",
        scheduler,
        predictionType: p,
        seed: 1,
      });
      const st = await stats(x);
      x.dispose();
      assert.equal(tf.memory().numTensors, before, "sample() leaks no tensors");
      assert.ok(st.finite, `${p}/${scheduler}: NaN or Inf`);
      assert.ok(
        Math.abs(st.mean) < 0.05 && Math.abs(st.std - 0.5) < 0.05,
        `${p}/${scheduler}: mean ${st.mean}, std ${st.std}`,
      );
    }
  }
});

test("v- and x₀-prediction recover a non-zero data mean under zero terminal SNR (the sampler starts at t = T)", async () => {
  const s = makeSchedule({ kind: "scaled_linear", zeroTerminalSnr: true });
  for (const p of ["v_prediction", "sample"] as const) {
    const x = await sample({
      schedule: s,
      model: gaussianDenoiser(s, 0.7, 0.3, p),
      shape: [4000, 1],
      steps: 500,
      spacing: "trailing",
      scheduler: "ddpm",
      predictionType: p,
      seed: 2,
    });
    const st = await stats(x);
    x.dispose();
    assert.ok(Math.abs(st.mean - 0.7) < 0.03 && Math.abs(st.std - 0.3) < 0.03, `${p}: mean ${st.mean}, std ${st.std}`);
  }
});

test("DDIM with η = 1 and all T steps matches DDPM's statistics", async () => {
  const s = makeSchedule({ kind: "linear" });
  const run = async (scheduler: "ddim" | "ddpm") => {
    const x = await sample({
      schedule: s,
      model: gaussianDenoiser(s, 0.3, 0.6, "epsilon"),
      shape: [3000, 1],
      steps: 1000,
      spacing: "trailing",
      scheduler,
      eta: 1,
      seed: scheduler,
    });
    const st = await stats(x);
    x.dispose();
    return st;
  };
  const [a, b] = [await run("ddim"), await run("ddpm")];
  // both must reproduce N(0.3, 0.6²); 3000 samples: s.e. of the mean 0.011, of the std ≈ 0.008
  for (const st of [a, b])
    assert.ok(Math.abs(st.mean - 0.3) < 0.05 && Math.abs(st.std - 0.6) < 0.04, JSON.stringify(st));
  assert.ok(
    Math.abs(a.mean - b.mean) < 0.06 && Math.abs(a.std - b.std) < 0.05,
    `${JSON.stringify(a)} vs ${JSON.stringify(b)}`,
  );
});

test("the same seed gives the same bytes; a different seed does not", async () => {
  const s = makeSchedule({ kind: "sigmoid", zeroTerminalSnr: true });
  const go = async (seed: number) => {
    const x = await sample({
      schedule: s,
      model: gaussianDenoiser(s, 0, 1, "v_prediction"),
      shape: [2, 4, 4, 1],
      steps: 10,
      scheduler: "ddpm",
      predictionType: "v_prediction",
      seed,
    });
    const d = Buffer.from((await x.data()).buffer);
    x.dispose();
    return d;
  };
  assert.ok((await go(5)).equals(await go(5)));
  assert.ok(!(await go(5)).equals(await go(6)));
});

test("guidance: w = 1 is the conditional output; rescale φ = 1 restores the conditional std per sample (Lin et al. eq. 15)", () => {
  const u = randomNormal([2, 4, 4, 3], 3, "u");
  const c = tf.mul(randomNormal([2, 4, 4, 3], 3, "c"), 2);
  const g1 = guide(u, c, 1);
  assert.ok(tf.max(tf.abs(tf.sub(g1, c))).dataSync()[0] < 1e-6);
  const g = guide(u, c, 7.5, 1);
  const stdOf = (x: tf.Tensor) => tf.sqrt(tf.moments(x, [1, 2, 3]).variance).dataSync();
  const [sg, sc] = [stdOf(g), stdOf(c)];
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(sg[i] - sc[i]) < 1e-4, `${sg[i]} vs ${sc[i]}`);
  // φ = 0.7 is the linear mix of the two
  const plain = guide(u, c, 7.5);
  const mixed = guide(u, c, 7.5, 0.7);
  const expect = tf.add(tf.mul(g, 0.7), tf.mul(plain, 0.3));
  assert.ok(tf.max(tf.abs(tf.sub(mixed, expect))).dataSync()[0] < 1e-5);
  tf.dispose([u, c, g1, g, plain, mixed, expect]);
});

test("bad model output shape is a clear error and leaks nothing", async () => {
  const s = makeSchedule({ kind: "linear" });
  const before = tf.memory().numTensors;
  await assert.rejects(
    sample({ schedule: s, model: () => tf.zeros([1, 2]), shape: [1, 3], steps: 2, seed: 0 }),
    /model output has shape \[1,2\] but x_t has \[1,3\]/,
  );
  assert.equal(tf.memory().numTensors, before);
});
