import { test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { shippedRawConfigs } from "../models/configs";
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from "../models/config";
import { unetParamSpecs } from "../models/unet";
import { vaeParamSpecs } from "../models/vae";
import { clipTextParamSpecs } from "../models/clip-text";
import { initParams, disposeParams } from "../models/init";
import { writeComponent, writePipelineFiles, writeTokenizerFolder } from "../models/folder";
import { clipTokenizer } from "../tokenizer/clip";
import { resolveScheduleConfig } from "../schedules";
import { dreamboothTrain, generateClassImages } from "./train";
import { writeInstanceImages } from "../data/subject";
import { readWeights } from "../models/weights";
import { loadComponentConfigs } from "../models/components";
import { loadStableDiffusion } from "../pipeline/stable-diffusion";
import { dreamboothFewSteps, dreamboothStep, lossByTimestep } from "./explain";
import { ImageGenerator } from "../pipeline/generator";
import { sampleRun } from "../experiment/experiment";
import { makeSchedule } from "../schedules";

/** A miniature diffusers folder (random weights): 16×16 images, 8×8 latents, the real tokenizer. */
async function miniModel(dir: string): Promise<void> {
  const raw = shippedRawConfigs("tiny") as {
    unet: Record<string, unknown>;
    vae: Record<string, unknown>;
    text_encoder: Record<string, unknown>;
  };
  const unet = {
    ...raw.unet,
    sample_size: 8,
    block_out_channels: [32, 32],
    down_block_types: ["DownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types: ["CrossAttnUpBlock2D", "UpBlock2D"],
    norm_num_groups: 8,
    cross_attention_dim: 32,
    attention_head_dim: 2,
  };
  const vae = {
    ...raw.vae,
    sample_size: 16,
    block_out_channels: [8, 16],
    down_block_types: ["DownEncoderBlock2D", "DownEncoderBlock2D"],
    up_block_types: ["UpDecoderBlock2D", "UpDecoderBlock2D"],
    norm_num_groups: 4,
  };
  const te = {
    ...raw.text_encoder,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    projection_dim: 32,
  };
  const parts: [folder: "unet" | "vae" | "text_encoder", rawCfg: unknown, specs: ReturnType<typeof unetParamSpecs>][] =
    [
      ["unet", unet, unetParamSpecs(parseUNetConfig(unet))],
      ["vae", vae, vaeParamSpecs(parseVaeConfig(vae))],
      ["text_encoder", te, clipTextParamSpecs(parseClipTextConfig(te))],
    ];
  for (const [folder, cfg, specs] of parts) {
    const p = initParams(specs, 7);
    await writeComponent(dir, folder, cfg, p, specs, "F32");
    disposeParams(p);
  }
  writeTokenizerFolder(dir, clipTokenizer());
  writePipelineFiles(dir, resolveScheduleConfig({ kind: "linear" }), "epsilon");
}

const sha = (f: string) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");

test("a hand-made diffusers folder loads and samples; class images are cached; DreamBooth is seeded to the byte and resumes only a run on the same images", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "db-"));
  const model = path.join(root, "model");
  await miniModel(model);
  const inst = path.join(root, "instance");
  await writeInstanceImages(inst, 16);
  fs.rmSync(path.join(inst, "metadata.json"));
  const cls = path.join(root, "class");
  const first = await generateClassImages({
    model,
    prompt: "a photo of person",
    count: 3,
    out: cls,
    seed: 0,
    steps: 2,
  });
  assert.equal(first.generated, true);
  assert.equal(first.files.length, 3);
  const again = await generateClassImages({
    model,
    prompt: "a photo of person",
    count: 3,
    out: cls,
    seed: 0,
    steps: 2,
  });
  assert.equal(again.generated, false, "same model, prompt and count: reused");
  const before = tf.memory().numTensors;
  const run = (name: string, workers: number, classDir = cls) =>
    dreamboothTrain({
      model,
      instanceDir: inst,
      instancePrompt: "a photo of sks person",
      classDir,
      classPrompt: "a photo of person",
      priorWeight: 1,
      out: path.join(root, name, "model"),
      work: path.join(root, name),
      schedule: { kind: "sigmoid", zeroTerminalSnr: true },
      predictionType: "v_prediction",
      steps: 3,
      lr: 1e-3,
      instancesPerBatch: 2,
      classPerBatch: 2,
      workers,
      seed: 5,
      checkpointEvery: 2,
    });
  const a = await run("a", 2);
  await run("b", 2);
  const c = await run("c", 0);
  assert.equal(tf.memory().numTensors, before, "training leaks no tensors on the main thread");
  assert.ok(Number.isFinite(a.lastLoss));
  const fa = path.join(root, "a", "model", "unet", "diffusion_pytorch_model.safetensors");
  const fb = path.join(root, "b", "model", "unet", "diffusion_pytorch_model.safetensors");
  // the same seed gives the same fine-tuned weights (here: 2 workers both times)
  assert.equal(sha(fa), sha(fb));
  // in-process training (the GPU path) computes the same step: equal weights up to float32 summation order
  const specs = unetParamSpecs(loadComponentConfigs(model).unet);
  const wa = readWeights(path.join(root, "a", "model", "unet"), specs);
  const wc = readWeights(path.join(root, "c", "model", "unet"), specs);
  let num = 0,
    den = 0;
  for (const [k, v] of wa) {
    for (let i = 0; i < v.length; i++) {
      num += (v[i] - wc.get(k)![i]) ** 2;
      den += v[i] ** 2;
    }
  }
  assert.ok(Math.sqrt(num / den) < 1e-4, `in-process vs 2 workers: relative difference ${Math.sqrt(num / den)}`);
  void c;
  assert.notEqual(sha(fa), sha(path.join(model, "unet", "diffusion_pytorch_model.safetensors")), "the U-Net changed");
  const sched = JSON.parse(
    fs.readFileSync(path.join(root, "a", "model", "scheduler", "scheduler_config.json"), "utf8"),
  );
  assert.equal(sched.beta_schedule, "sigmoid");
  assert.equal(sched.rescale_betas_zero_snr, true);
  assert.equal(sched.prediction_type, "v_prediction");
  // a rerun on the same data resumes the finished run; on other class images its checkpoint is stale
  const shaA = sha(path.join(root, "a", "model", "unet", "diffusion_pytorch_model.safetensors"));
  await run("a", 2);
  assert.ok(!fs.existsSync(path.join(root, "a", "checkpoints.stale")), "the same data: resumed");
  assert.equal(sha(path.join(root, "a", "model", "unet", "diffusion_pytorch_model.safetensors")), shaA);
  // other class images in the same folder (same options, so only the data's digest tells them apart)
  const cls2 = path.join(root, "class2");
  const other = await generateClassImages({
    model,
    prompt: "a photo of person",
    count: 3,
    out: cls2,
    seed: 1,
    steps: 2,
  });
  await run("d", 2, cls2);
  other.files.forEach((f, i) => fs.copyFileSync(f, first.files[i]));
  await run("a", 2);
  assert.ok(
    fs.existsSync(path.join(root, "a", "checkpoints.stale")),
    "other class images: the checkpoint is not resumed",
  );
  const unetOf = (name: string) => sha(path.join(root, name, "model", "unet", "diffusion_pytorch_model.safetensors"));
  assert.notEqual(unetOf("a"), shaA);
  assert.equal(unetOf("a"), unetOf("d"), "retrained from step 0 on the new images");
  fs.rmSync(root, { recursive: true, force: true });
});

test("one DreamBooth step taken apart: total = instance + λ · prior, finite, U-Net gradient only, no leaks", async () => {
  await initBackend({ prefer: "cpu", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "db-step-"));
  await miniModel(path.join(root, "model"));
  const sd = loadStableDiffusion(path.join(root, "model"));
  const inst = tf.randomUniform([1, 16, 16, 3], -1, 1, "float32", 1) as tf.Tensor4D;
  const cls = tf.randomUniform([1, 16, 16, 3], -1, 1, "float32", 2) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const r = dreamboothStep(sd, inst, cls, {
    schedule: makeSchedule({ kind: "sigmoid", zeroTerminalSnr: true }),
    predictionType: "v_prediction",
    t: 999,
    priorWeight: 0.5,
    instancePrompt: "a photo of sks person",
    classPrompt: "a photo of person",
    seed: 0,
  });
  assert.ok(Number.isFinite(r.instanceLoss) && Number.isFinite(r.priorLoss) && r.unetGradNorm > 0);
  assert.ok(Math.abs(r.totalLoss - (r.instanceLoss + 0.5 * r.priorLoss)) < 1e-5 * Math.max(1, r.totalLoss));
  assert.equal(r.signal, 0, "t = T under zero terminal SNR: nothing of the image is left");
  assert.deepEqual(r.noisy.shape, [2, 16, 16, 3]);
  assert.deepEqual(r.latentClean.shape, [2, 8, 8, 4]);
  assert.deepEqual(r.latentNoisy.shape, [2, 8, 8, 4]);
  // the gradient by part: every U-Net parameter in one of its blocks, the blocks' norms make up the total
  const unetRows = r.modules.filter((m) => m.trained);
  assert.ok(unetRows.every((m) => m.module.startsWith("unet/")) && unetRows.length > 3);
  assert.equal(
    unetRows.reduce((a, m) => a + m.params, 0),
    [...sd.unet.values()].reduce((a, v) => a + v.size, 0),
  );
  const total = Math.sqrt(unetRows.reduce((a, m) => a + m.applied ** 2, 0));
  assert.ok(Math.abs(total - r.unetGradNorm) < 1e-6 * total);
  // frozen: nothing applied to the text encoder, although the loss does depend on it
  const te = r.modules.find((m) => m.module === "text_encoder")!;
  assert.equal(te.applied, 0);
  assert.ok(te.gradient > 0 && !te.trained);
  assert.equal(r.modules.find((m) => m.module === "vae")!.applied, 0);
  tf.dispose([r.clean, r.noisy, r.predicted, r.latentClean, r.latentNoisy]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([inst, cls]);
  sd.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

test("class images and experiment samples: 2 worker threads write the bytes one process writes; a failing job is an error", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "db-gen-"));
  const model = path.join(root, "model");
  await miniModel(model);
  const before = tf.memory().numTensors;
  const opts = { model, prompt: "a photo of person", count: 5, seed: 3, steps: 2, batch: 2 };
  await generateClassImages({ ...opts, out: path.join(root, "c0"), workers: 0 });
  await generateClassImages({ ...opts, out: path.join(root, "c2"), workers: 2 });
  for (const f of ["0000.png", "0002.png", "0004.png", "metadata.json"]) {
    assert.equal(sha(path.join(root, "c2", f)), sha(path.join(root, "c0", f)), f);
  }
  const prompts = [
    { id: "instance", prompt: "a photo of sks person", role: "identity" as const },
    { id: "class", prompt: "a photo of person", role: "class" as const },
    { id: "cap", prompt: "a photo of sks person with a cap", role: "attribute" as const },
  ];
  const run = (out: string, workers: number) =>
    sampleRun({
      model,
      out: path.join(root, out),
      prompts,
      seeds: 2,
      steps: 2,
      guidance: 3,
      guidanceRescale: 0,
      scheduler: "ddim",
      spacing: "trailing",
      seed: 1,
      workers,
    });
  assert.equal(await run("s0", 0), 6);
  assert.equal(await run("s2", 2), 6);
  for (const f of ["instance/seed-000.png", "class/seed-001.png", "cap/seed-001.png", "prompts.json"]) {
    assert.equal(sha(path.join(root, "s2", f)), sha(path.join(root, "s0", f)), f);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak on the main thread");
  const gen = await ImageGenerator.open(model, { workers: 2 });
  try {
    await assert.rejects(
      gen.run(
        [
          { prompt: "a photo of person", seed: 0, steps: 2 },
          { prompt: "x", seed: 0, steps: 2, scheduler: "bogus" as never },
        ],
        () => {},
      ),
      /bogus/,
    );
  } finally {
    await gen.close();
  }
  await assert.rejects(ImageGenerator.open(model, { workers: -1 }), /workers must be a whole number ≥ 0, got -1/);
  fs.rmSync(root, { recursive: true, force: true });
});

test("loss by timestep: the same noise under every schedule, deterministic, no leaks", async () => {
  await initBackend({ prefer: "cpu", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "db-loss-"));
  await miniModel(path.join(root, "model"));
  const sd = loadStableDiffusion(path.join(root, "model"));
  const images = tf.randomUniform([2, 16, 16, 3], -1, 1, "float32", 3) as tf.Tensor4D;
  const prompts = ["a photo of sks person", "a photo of person"];
  const before = tf.memory().numTensors;
  const at = (zeroTerminalSnr: boolean) =>
    lossByTimestep(sd, images, prompts, {
      schedule: makeSchedule({ kind: "linear", zeroTerminalSnr }),
      predictionType: "v_prediction",
      timesteps: [0, 500, 999],
      draws: 2,
      seed: 4,
    });
  const plain = at(false);
  const zt = at(true);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(plain.every(Number.isFinite) && plain.length === 3);
  assert.deepEqual(at(false), plain);
  // zero terminal SNR keeps sqrt(ᾱ_1): at t = 1 the two schedules see the same x_t, so the same loss
  assert.equal(zt[0], plain[0]);
  assert.notEqual(zt[2], plain[2]);
  const schedule = makeSchedule({ kind: "linear" });
  const one = { schedule, predictionType: "v_prediction" as const, timesteps: [0], draws: 1, seed: 0 };
  assert.throws(() => lossByTimestep(sd, images, ["one prompt"], one), /2 images but 1 prompts/);
  images.dispose();
  sd.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

test("a few DreamBooth steps on a U-Net copy: λ = 0 drops the class images; seeded; the base untouched; no leaks", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "db-few-"));
  await miniModel(path.join(root, "model"));
  const sd = loadStableDiffusion(path.join(root, "model"));
  const inst = tf.randomUniform([2, 16, 16, 3], -1, 1, "float32", 5) as tf.Tensor4D;
  const cls = tf.randomUniform([2, 16, 16, 3], -1, 1, "float32", 6) as tf.Tensor4D;
  const firstParam = [...sd.unet.keys()][0];
  const base = sd.unet.get(firstParam)!.dataSync().slice();
  const before = tf.memory().numTensors;
  const run = (priorWeight: number) =>
    dreamboothFewSteps(sd, inst, cls, {
      schedule: { kind: "sigmoid", zeroTerminalSnr: true },
      predictionType: "v_prediction",
      priorWeight,
      steps: 2,
      lr: 1e-3,
      instancePrompt: "a photo of sks person",
      classPrompt: "a photo of person",
      seed: 1,
      evalTimesteps: [99, 899],
    });
  const a = await run(1);
  const b = await run(1);
  const c = await run(0);
  assert.deepEqual(a.log, b.log, "same seed, same losses");
  assert.equal(a.log.length, 3);
  assert.ok(Number.isNaN(a.log[0].gradNorm) && a.log[1].gradNorm > 0);
  // the same evaluation batch before any update, whatever λ
  assert.deepEqual(c.log[0], a.log[0]);
  assert.notDeepEqual(c.log[2], a.log[2]);
  assert.notDeepEqual(Array.from(a.unet.get(firstParam)!.dataSync()), Array.from(base));
  assert.deepEqual(Array.from(sd.unet.get(firstParam)!.dataSync()), Array.from(base), "the base U-Net is left as is");
  [a, b, c].forEach((r) => r.dispose());
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(run(-1), /priorWeight must be ≥ 0/);
  tf.dispose([inst, cls]);
  sd.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});
