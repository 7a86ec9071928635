import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { matmulCeiling } from "./ceiling";
import { diffusionTrainFlopsPerSample } from "../pretrain/pretrain";
import { shippedRawConfigs } from "../models/configs";
import { parseUNetConfig } from "../models/config";
import { unetForwardFlops } from "../models/components";

test("the matMul ceiling is a finite positive rate and leaks nothing", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const before = tf.memory().numTensors;
  const { gflops: g, medianGflops: med } = await matmulCeiling({ reps: 3, size: 128 });
  assert.ok(Number.isFinite(g) && g > 0 && g >= med, `ceiling ${g}, median ${med}`);
  assert.equal(tf.memory().numTensors, before);
});

test("training FLOPs per sample: 3 × (U-Net forward + text encoder forward)", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const raw = shippedRawConfigs("tiny");
  const unet = 3 * unetForwardFlops(parseUNetConfig(raw.unet), { height: 16, width: 16, batch: 1, seqLen: 77 });
  const total = diffusionTrainFlopsPerSample(raw, 16);
  // the tiny text encoder (width 64, 3 layers, 77 tokens): 3 × (per layer 2·77·(4·64² + 2·64·256) + attention 2·2·77²·64) ≈ 0.04 GFLOP
  const text = 3 * 3 * (2 * 77 * (4 * 64 * 64 + 2 * 64 * 256) + 2 * 2 * 77 * 77 * 64);
  assert.ok(Math.abs(total - unet - text) / text < 0.1, `text encoder share ${total - unet} vs ≈ ${text}`);
});
