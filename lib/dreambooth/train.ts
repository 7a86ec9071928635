/**
 * DreamBooth fine-tuning of a diffusers-format model's U-Net on a few instance images, with
 * class-specific prior preservation, for any forward process (beta schedule × zero terminal SNR ×
 * prediction type): the paper's four-way experiment is four calls of `dreamboothTrain`.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import {
  encodePrompts,
  imagePng,
  latentSide,
  loadStableDiffusion,
  nativeResolution,
  StableDiffusion,
} from "../pipeline/stable-diffusion";
import { GenerateJob, ImageGenerator } from "../pipeline/generator";
import { unetParamSpecs } from "../models/unet";
import { vaeEncode } from "../models/vae";
import { WorkerPool } from "../parallel/pool";
import { batchIndices, localSource, poolSource, trainLoop } from "../train/trainer";
import { loadImageFolder } from "../data/images";
import type { Seed } from "../random";
import { resolveScheduleConfig, ScheduleConfig } from "../schedules";
import type { PredictionType } from "../diffusion/forward";
import { makeDreamBoothLoss, type DreamBoothTaskConfig, type LatentSet } from "./task";
import { writeComponent, writePipelineFiles } from "../models/folder";
import { writeFileAtomic } from "../io/atomic";
import { Progress } from "../train/progress";

const ext = __filename.endsWith(".ts") ? ".ts" : ".js";

/** md5 of the files that define a model folder's outputs (weights and configs). */
export function modelFingerprint(dir: string): string {
  const h = crypto.createHash("md5");
  for (const sub of ["unet", "vae", "text_encoder", "scheduler", "tokenizer"]) {
    const d = path.join(dir, sub);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).sort()) {
      h.update(`${sub}/${f}\0`);
      h.update(fs.readFileSync(path.join(d, f)));
    }
  }
  return h.digest("hex");
}

export interface ClassImageOptions {
  model: string;
  prompt: string;
  count: number;
  out: string;
  seed: Seed;
  steps?: number;
  guidance?: number;
  batch?: number;
  /** image side in pixels (default: the model's own) */
  resolution?: number;
  /** worker threads that sample (default: every core on wasm and cpu, none on a GPU backend); the images are the same bytes for any number */
  workers?: number;
}

/**
 * The class images prior preservation needs, made by the base model for the class prompt (the
 * paper: 200). Cached: regenerated only when the model, prompt, count, seed or sampler settings change.
 */
export async function generateClassImages(o: ClassImageOptions): Promise<{ generated: boolean; files: string[] }> {
  // resolution: JSON leaves it out when not given, so the model's own size keeps its old metadata
  const meta = {
    model: modelFingerprint(o.model),
    prompt: o.prompt,
    count: o.count,
    seed: o.seed,
    steps: o.steps ?? 25,
    guidance: o.guidance ?? 5,
    resolution: o.resolution,
  };
  const metaFile = path.join(o.out, "metadata.json");
  const files = Array.from({ length: o.count }, (_, i) => path.join(o.out, `${String(i).padStart(4, "0")}.png`));
  if (
    fs.existsSync(metaFile) &&
    JSON.stringify(JSON.parse(fs.readFileSync(metaFile, "utf8")).settings) === JSON.stringify(meta) &&
    files.every((f) => fs.existsSync(f))
  ) {
    return { generated: false, files };
  }
  fs.rmSync(o.out, { recursive: true, force: true });
  fs.mkdirSync(o.out, { recursive: true });
  const batch = o.batch ?? 8;
  const jobs: GenerateJob[] = [];
  for (let s = 0; s < o.count; s += batch) {
    jobs.push({
      prompt: o.prompt,
      count: Math.min(batch, o.count - s),
      seed: `${o.seed}/${s}`,
      steps: meta.steps,
      guidance: meta.guidance,
      scheduler: "ddim",
      spacing: "trailing",
      size: o.resolution,
    });
  }
  const generator = await ImageGenerator.open(o.model, { workers: o.workers });
  try {
    const progress = new Progress({
      label: `class images${generator.workers > 1 ? ` (${generator.workers} workers)` : ""}`,
      total: o.count,
    });
    let done = 0;
    await generator.run(jobs, async (j, images) => {
      for (let i = 0; i < images.shape[0]; i++) writeFileAtomic(files[j * batch + i], await imagePng(images, i));
      done += images.shape[0];
      progress.tick(done);
    });
  } finally {
    await generator.close();
  }
  writeFileAtomic(
    metaFile,
    JSON.stringify({ settings: meta, files: files.map((f) => path.basename(f)) }, null, 2) + "\n",
  );
  return { generated: true, files };
}

/** Latent distributions of a folder of images at `size` pixels (default: the model's own; resized if `resize`). */
export async function encodeFolder(
  sd: StableDiffusion,
  dir: string,
  resize = false,
  size = nativeResolution(sd),
): Promise<LatentSet & { shape: [number, number, number] }> {
  latentSide(sd, size);
  const folder = await loadImageFolder(dir, size, { resize });
  const x = tf.tensor4d(folder.data, folder.shape as [number, number, number, number]);
  const d = vaeEncode(sd.vae, sd.configs.vae, x);
  const out = {
    mean: new Float32Array(await d.mean.data()),
    logvar: new Float32Array(await d.logvar.data()),
    count: folder.shape[0],
    shape: d.mean.shape.slice(1) as [number, number, number],
  };
  tf.dispose([x, d.mean, d.logvar]);
  return out;
}

export interface DreamBoothOptions {
  /** base model folder (diffusers layout) */
  model: string;
  instanceDir: string;
  instancePrompt: string;
  /** class images folder; omit to train without prior preservation */
  classDir?: string;
  classPrompt: string;
  priorWeight: number;
  out: string;
  work: string;
  schedule: ScheduleConfig;
  predictionType: PredictionType;
  minSnrGamma?: number;
  offsetNoise?: number;
  steps: number;
  lr: number;
  instancesPerBatch: number;
  classPerBatch: number;
  /** worker threads for data parallelism on wasm; 0 trains in this process (use it with a GPU backend) */
  workers: number;
  seed: Seed;
  checkpointEvery: number;
  /** resize instance photos of another size (center crop + resize) instead of refusing them */
  resize?: boolean;
  /** training image side in pixels (default: the model's own); class images are resized to it */
  resolution?: number;
  /** train from step 0 even where --work holds a checkpoint of this run (the pipeline's stages do) */
  fresh?: boolean;
}

/** md5 of what a fine-tune trains on: the encoded instance and class latents and the prompts' text states. */
function trainingDataDigest(parts: Float32Array[]): string {
  const h = crypto.createHash("md5");
  for (const a of parts) {
    h.update(`${a.length};`);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest("hex");
}

export async function dreamboothTrain(
  o: DreamBoothOptions,
): Promise<{ seconds: number; lastLoss: number; steps: number }> {
  const t0 = Date.now();
  // how to start is not part of the run: a fresh run and its resumption share their checkpoints
  const { fresh: _fresh, ...opts } = o;
  const sd = loadStableDiffusion(o.model);
  const schedule = resolveScheduleConfig(o.schedule);
  let pool: WorkerPool | undefined;
  try {
    const instance = await encodeFolder(sd, o.instanceDir, o.resize, o.resolution);
    const prior = o.classDir
      ? await encodeFolder(sd, o.classDir, true, o.resolution)
      : { mean: new Float32Array(0), logvar: new Float32Array(0), count: 0, shape: instance.shape };
    const states = encodePrompts(sd, [o.instancePrompt, o.classPrompt]);
    const sData = (await states.data()) as Float32Array;
    const [, L, D] = states.shape;
    states.dispose();
    const cfg: DreamBoothTaskConfig = {
      unet: JSON.parse(fs.readFileSync(path.join(o.model, "unet", "config.json"), "utf8")),
      latentShape: instance.shape,
      scalingFactor: sd.configs.vae.scaling_factor,
      instance,
      prior,
      instanceStates: sData.slice(0, L * D),
      classStates: sData.slice(L * D),
      statesShape: [L, D],
      priorWeight: o.classDir ? o.priorWeight : 0,
      instancesPerBatch: o.instancesPerBatch,
      schedule,
      predictionType: o.predictionType,
      minSnrGamma: o.minSnrGamma,
      offsetNoise: o.offsetNoise,
      seed: o.seed,
    };
    const nClass = o.classDir ? o.classPerBatch : 0;
    // each step: instancesPerBatch instance images and classPerBatch class images, each from its own
    // seeded permutation per epoch (the trainer's batchIndices), so the order depends only on (seed, step)
    const samplesFor = (step: number) => [
      ...batchIndices(`${o.seed}/instance`, step, o.instancesPerBatch, instance.count),
      ...(nClass ? batchIndices(`${o.seed}/class`, step, nClass, prior.count).map((i) => instance.count + i) : []),
    ];
    // workers = 0: train in this process on the main backend's own parameters (a GPU backend: no
    // copies of the weights); otherwise data parallel over wasm worker threads
    let source;
    if (o.workers === 0) source = localSource(sd.unet, makeDreamBoothLoss(cfg, sd.unet));
    else {
      pool = await WorkerPool.start({ module: path.join(__dirname, "task" + ext), size: o.workers, config: cfg });
      source = poolSource(pool);
    }
    const specs = unetParamSpecs(sd.configs.unet);
    const r = await trainLoop({
      label: `dreambooth ${schedule.kind}${schedule.zeroTerminalSnr ? "+ZT-SNR" : ""}`,
      outDir: o.work,
      totalSteps: o.steps,
      batchSize: o.instancesPerBatch + nClass,
      datasetSize: instance.count + prior.count,
      samplesFor,
      seed: o.seed,
      lr: { lr: o.lr, warmupSteps: 0, decay: "constant" },
      optimizer: { weightDecay: 1e-2 },
      clipNorm: 1,
      checkpointEvery: o.checkpointEvery,
      components: [{ name: "unet", params: sd.unet, specs }],
      source,
      // the data's digest makes a checkpoint trained on other images (new class images, other
      // instance photos, another encoder) stale instead of resumed
      config: {
        ...opts,
        schedule,
        data: trainingDataDigest([instance.mean, instance.logvar, prior.mean, prior.logvar, sData]),
      },
      // the log and dreambooth.json are pipeline outputs: no wall-clock in them (timing.json has it)
      logSeconds: false,
      fresh: o.fresh,
    });
    // the fine-tuned model: the base folder with the new U-Net and the fine-tune's forward process
    fs.mkdirSync(o.out, { recursive: true });
    for (const sub of ["vae", "text_encoder", "tokenizer"])
      fs.cpSync(path.join(o.model, sub), path.join(o.out, sub), { recursive: true });
    fs.copyFileSync(path.join(o.model, "model_index.json"), path.join(o.out, "model_index.json"));
    await writeComponent(o.out, "unet", cfg.unet, sd.unet, specs, "F32", { base: path.basename(o.model) });
    writePipelineFiles(o.out, schedule, o.predictionType);
    writeFileAtomic(
      path.join(o.out, "dreambooth.json"),
      JSON.stringify({ options: opts, steps: r.finalStep, lastLoss: r.lastLoss }, null, 2) + "\n",
    );
    const seconds = (Date.now() - t0) / 1000;
    writeFileAtomic(
      path.join(o.work, "timing.json"),
      JSON.stringify(
        {
          seconds,
          trainingSeconds: r.seconds,
          stepsRun: r.stepsRun,
          samplesPerSecond: r.samplesPerSecond,
          workers: o.workers,
        },
        null,
        2,
      ) + "\n",
    );
    r.ema?.dispose();
    return { seconds, lastLoss: r.lastLoss, steps: r.finalStep };
  } finally {
    await pool?.close();
    sd.dispose();
  }
}
