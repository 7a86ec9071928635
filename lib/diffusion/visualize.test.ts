import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import sharp from "sharp";
import { makeSchedule } from "../schedules";
import { channelTiles, forwardProcessGrid, imageTile, terminalBrightnessLeak } from "./visualize";

test.before(async () => {
  await tf.setBackend("cpu");
});

const rows = [
  { label: "scaled_linear", schedule: makeSchedule({ kind: "scaled_linear" }) },
  { label: "scaled_linear + ZT-SNR", schedule: makeSchedule({ kind: "scaled_linear", zeroTerminalSnr: true }) },
];

test("terminal brightness leak: sqrt(ᾱ_T) of the image mean survives without zero terminal SNR, none with it", () => {
  const before = tf.memory().numTensors;
  const [plain, zt] = terminalBrightnessLeak(rows, 64, 1);
  assert.equal(tf.memory().numTensors, before);
  // scaled_linear keeps sqrt(ᾱ_T) = 0.068265 (Lin et al. 2023) of x_0: a bright image's x_T has mean ≈ +0.068
  assert.ok(Math.abs(plain.meanBright - 0.068265) < 0.03, String(plain.meanBright));
  assert.ok(Math.abs(plain.meanDark + 0.068265) < 0.03, String(plain.meanDark));
  assert.ok(plain.zScore > 5, `leak should be detectable: z = ${plain.zScore}`);
  assert.equal(zt.terminalSignal, 0);
  assert.ok(Math.abs(zt.zScore) < 4.5, `no leak with zero terminal SNR: z = ${zt.zScore}`);
});

test("terminal brightness leak over many draws: the z-scores average to sqrt(ᾱ_T)/se and scatter by 1", () => {
  const linear = [{ label: "linear", schedule: makeSchedule({ kind: "linear" }) }];
  const before = tf.memory().numTensors;
  const [r] = terminalBrightnessLeak(linear, 32, 2, 400);
  assert.equal(tf.memory().numTensors, before);
  // linear β 1e-4 … 0.02: sqrt(ᾱ_T) = 0.006353 (the schedule's own value); n = 32²·3 = 3072 values,
  // se = sqrt(1 − ᾱ_T)/sqrt(2n), so the expected z is 0.006353 · sqrt(6144) / sqrt(1 − 4.04e-5) = 0.498
  assert.ok(Math.abs(r.expectedZ - 0.498) < 0.001, String(r.expectedZ));
  // 400 draws: the mean z is within 4 standard errors (1/sqrt(400) = 0.05) of it; the scatter near 1
  assert.ok(Math.abs(r.zScore - r.expectedZ) < 0.2, `${r.zScore} vs ${r.expectedZ}`);
  assert.ok(Math.abs(r.zScoreSd - 1) < 0.15, String(r.zScoreSd));
  assert.throws(() => terminalBrightnessLeak(linear, 8, 0, 0), /draws must be a positive integer/);
});

test("forward-process grid: a PNG with one row per schedule and one column per t; no leaks; deterministic", async () => {
  const h = 8,
    w = 8;
  const data = new Float32Array(h * w * 3).map((_, i) => (i % 7) / 3 - 1);
  const before = tf.memory().numTensors;
  const png = await forwardProcessGrid({ data, height: h, width: w, channels: 3 }, rows, [1, 500, 1000], 3, {
    scale: 2,
  });
  assert.equal(tf.memory().numTensors, before);
  const meta = await sharp(png).metadata();
  assert.equal(meta.format, "png");
  assert.ok(meta.width! >= 3 * 16 && meta.height! >= 2 * 16);
  const again = await forwardProcessGrid({ data, height: h, width: w, channels: 3 }, rows, [1, 500, 1000], 3, {
    scale: 2,
  });
  assert.ok(png.equals(again));
  await assert.rejects(
    forwardProcessGrid({ data, height: h, width: w, channels: 3 }, rows, [0], 3),
    /timestep 0 outside 1..1000/,
  );
  assert.equal(tf.memory().numTensors, before);
});

test("image and latent tiles: RGB image i of a batch, and one grey tile per latent channel on a fixed scale", () => {
  // a batch of 2 latents 1×2 with 2 channels, HWC: latent 1 holds channel 0 = [−3, 3], channel 1 = [0, 1.5]
  const z = [0, 0, 0, 0, -3, 0, 3, 1.5];
  const [c0, c1] = channelTiles(z, [2, 1, 2, 2], 1);
  assert.deepEqual(Array.from(c0.pixels), [0, 255]);
  // 0 → mid grey 128 (round(127.5)); 1.5/3 = 0.5 → round(191.25) = 191
  assert.deepEqual(Array.from(c1.pixels), [128, 191]);
  assert.equal(c0.channels, 1);
  const img = imageTile(new Float32Array(2 * 1 * 1 * 3).fill(1), [2, 1, 1, 3], 1);
  assert.deepEqual(Array.from(img.pixels), [255, 255, 255]);
  assert.throws(() => imageTile([0, 0, 0], [1, 1, 1, 3], 1), /image 1 of a batch/);
  assert.throws(() => channelTiles(z, [2, 1, 2, 2], 0, 0), /range > 0/);
  // upscaled 2×: each latent pixel becomes a 2×2 block
  const [big] = channelTiles(z, [2, 1, 2, 2], 1, 3, 2);
  assert.deepEqual([big.width, big.height], [4, 2]);
  assert.deepEqual(Array.from(big.pixels), [0, 0, 255, 255, 0, 0, 255, 255]);
});
