import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { shippedRawConfigs } from "../models/configs";
import { writePackedDataset } from "../data/dataset";
import { logTrainingSeconds, pretrain, PretrainOptions } from "./pretrain";
import { psnr } from "./autoencoder";
import { fileSha256 } from "../io/sha256";
import { pretrainSpecs, readLatentCache, TOKEN_TABLE } from "./diffusion-task";
import { readWeights } from "../models/weights";
import { clipTokenizer } from "../tokenizer/clip";
import { cropBatch } from "./vae-task";
import { loadStableDiffusion, generate } from "../pipeline/stable-diffusion";

test("PSNR of [−1, 1] images: 10·log10(4 / MSE)", () => {
  assert.equal(psnr(4e-3), 30);
  assert.ok(Math.abs(psnr(0.0063) - 28.02) < 0.01, "the 28 dB target is an MSE of 0.0063");
});

test("pretraining end to end on a miniature config: a loadable diffusers folder that samples, fp16, with logs", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "pretrain-"));
  await writePackedDataset(path.join(root, "train.pack"), { count: 12, split: "train", size: 16, seed: 0 });
  await writePackedDataset(path.join(root, "val.pack"), { count: 4, split: "val", size: 16, seed: 0 });
  const raw = shippedRawConfigs("tiny") as {
    unet: Record<string, unknown>;
    vae: Record<string, unknown>;
    text_encoder: Record<string, unknown>;
  };
  const configs = {
    unet: {
      ...raw.unet,
      sample_size: 8,
      block_out_channels: [32, 32],
      down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
      up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
      norm_num_groups: 8,
      cross_attention_dim: 32,
      attention_head_dim: 2,
    },
    vae: {
      ...raw.vae,
      sample_size: 16,
      block_out_channels: [8, 16],
      down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D"],
      up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D"],
      norm_num_groups: 4,
    },
    text_encoder: {
      ...raw.text_encoder,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      projection_dim: 32,
    },
  };
  const out = path.join(root, "model");
  const options: PretrainOptions = {
    out,
    work: path.join(root, "work"),
    trainPack: path.join(root, "train.pack"),
    valPack: path.join(root, "val.pack"),
    configs,
    vae: { steps: 3, batch: 4, lr: 1e-3, klWeight: 1e-6, crop: 8 },
    diffusion: {
      steps: 3,
      batch: 4,
      lr: 1e-3,
      warmupSteps: 1,
      captionDropout: 0.5,
      emaDecay: 0.9,
      schedule: { kind: "linear" },
      predictionType: "epsilon",
      images: 8,
    },
    workers: 2,
    seed: 0,
    checkpointEvery: 2,
    dtype: "F16",
  };
  await assert.rejects(
    pretrain({ ...options, vae: { ...options.vae, crop: 7 } }),
    /--vae-crop 7: must be a multiple of the autoencoder's downscaling \(2\)/,
  );
  const report = await pretrain(options);
  assert.ok(
    Number.isFinite(report.vaeFinalLoss) &&
      Number.isFinite(report.diffusionFinalLoss) &&
      Number.isFinite(report.valPsnr),
  );
  for (const f of [
    "model_index.json",
    "scheduler/scheduler_config.json",
    "tokenizer/vocab.json",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
    "training-log-vae.csv",
    "training-log-diffusion.csv",
    "training.json",
    "README.md",
  ]) {
    assert.ok(fs.existsSync(path.join(out, f)), f);
  }
  assert.equal(
    fs.readFileSync(path.join(out, "training-log-diffusion.csv"), "utf8").trim().split("\n").length,
    4,
    "header + 3 steps",
  );
  // the model card states the recipe that ran, from the options and the report
  const card = fs.readFileSync(path.join(out, "README.md"), "utf8");
  assert.match(card, /3 steps × 4, epsilon prediction, linear β/);
  assert.match(card, /the autoencoder: 3 steps × 4 random 8×8 crops/);
  assert.match(card, new RegExp(`${report.valPsnr.toFixed(1)} dB PSNR`));
  // the matMul ceiling: measured before and after training, the best of the two reported and named on the card
  assert.deepEqual(
    report.matmulCeilingRuns?.map((c) => c.when),
    ["before training", "after training"],
  );
  assert.equal(report.matmulCeilingGflops, Math.max(...report.matmulCeilingRuns!.map((c) => c.gflops)));
  assert.match(card, /the best of [\d.]+ before training and [\d.]+ after training/);
  const sd = loadStableDiffusion(out);
  const before = tf.memory().numTensors;
  const img = await generate(sd, { prompt: "a photo of person with red hair", seed: 1, steps: 3 });
  assert.deepEqual(img.shape, [1, 16, 16, 3]);
  const d = await img.data();
  assert.ok(d.every((v) => Number.isFinite(v) && v >= -1 && v <= 1));
  img.dispose();
  assert.equal(tf.memory().numTensors, before, "generate leaks nothing");
  sd.dispose();
  // the latent cache records the split it encoded: a regenerated dataset is re-encoded, not reused
  const cacheFile = path.join(root, "work", "latents.safetensors");
  assert.equal(readLatentCache(cacheFile).sourceSha256, fileSha256(path.join(root, "train.pack")));
  await writePackedDataset(path.join(root, "train.pack"), { count: 12, split: "train", size: 16, seed: 1 });
  const newSha = fileSha256(path.join(root, "train.pack"));
  await pretrain({ ...options, out: path.join(root, "model2") });
  assert.equal(readLatentCache(cacheFile).sourceSha256, newSha, "re-encoded from the new split");
  // the token table: frozen by default (two runs, the same table), trained with trainTokenTable (the caption
  // words' rows move, and the card no longer calls it frozen)
  await pretrain({
    ...options,
    out: path.join(root, "model3"),
    work: path.join(root, "work3"),
    diffusion: { ...options.diffusion, trainTokenTable: true },
  });
  const table = (dir: string) =>
    readWeights(
      path.join(root, dir, "text_encoder"),
      pretrainSpecs(configs.unet, configs.text_encoder).textEncoder,
    ).get(TOKEN_TABLE)!;
  const width = (configs.text_encoder as { hidden_size: number }).hidden_size;
  const row = (t: Float32Array, id: number) => Array.from(t.subarray(id * width, (id + 1) * width));
  const person = clipTokenizer().encode("person")[1];
  assert.deepEqual(row(table("model2"), person), row(table("model"), person), "frozen: the same table in every run");
  assert.notDeepEqual(
    row(table("model3"), person),
    row(table("model"), person),
    "trained: the row of a caption word moved",
  );
  assert.match(fs.readFileSync(path.join(out, "README.md"), "utf8"), /token table frozen at its seeded init/);
  assert.doesNotMatch(fs.readFileSync(path.join(root, "model3", "README.md"), "utf8"), /token table frozen/);
  fs.rmSync(root, { recursive: true, force: true });
});

test("logTrainingSeconds sums the runs of an interrupted and resumed log", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "log-"));
  const f = path.join(dir, "log.csv");
  fs.writeFileSync(f, "step,loss,lr,grad_norm,seconds\n1,1,1,1,10\n2,1,1,1,20\n3,1,1,1,5\n4,1,1,1,12\n");
  assert.equal(logTrainingSeconds(f), 32); // 20 s, then a resumed run of 12 s
  assert.equal(logTrainingSeconds(path.join(dir, "missing.csv")), 0);
});

test("autoencoder crops: a function of (seed, step, sample) only, inside the image, and leak-free", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const x = tf.tensor4d(
    Float32Array.from({ length: 3 * 16 * 16 * 3 }, (_, i) => i),
    [3, 16, 16, 3],
  );
  const x1 = tf.slice(x, [1, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const all = cropBatch(x, 8, 0, 5, [10, 11, 12]);
  const one = cropBatch(x1, 8, 0, 5, [11]);
  const other = cropBatch(x, 8, 0, 6, [10, 11, 12]);
  assert.equal(tf.memory().numTensors, before + 3, "one tensor per call, nothing else");
  assert.deepEqual(all.shape, [3, 8, 8, 3]);
  const d = await all.data();
  // sample 11 gets the same crop in a batch of three as alone (a worker's shard): split-independent
  assert.deepEqual(Array.from(d.subarray(192, 384)), Array.from(await one.data()));
  // each crop is a contiguous window of its own image: pixel (r, c) of image b holds b·768 + (r·16 + c)·3
  for (let b = 0; b < 3; b++) {
    const first = d[b * 192] - b * 768,
      top = Math.floor(first / 48),
      left = (first % 48) / 3;
    assert.ok(top >= 0 && top <= 8 && left >= 0 && left <= 8, `crop ${b} at (${top}, ${left})`);
    for (let r = 0; r < 8; r++)
      for (let c = 0; c < 8; c++) assert.equal(d[b * 192 + (r * 8 + c) * 3], b * 768 + ((top + r) * 16 + left + c) * 3);
  }
  assert.notDeepEqual(Array.from(await other.data()), Array.from(d), "another step draws other crops");
  assert.throws(() => cropBatch(x, 17, 0, 0, [0, 1, 2]), /crop must be an integer in \[1, 16\]/);
  tf.dispose([all, one, other]);
  assert.equal(tf.memory().numTensors, before, "a rejected crop leaks nothing either");
  tf.dispose([x, x1]);
});
