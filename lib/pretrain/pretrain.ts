/**
 * Pretraining the embedded tiny Stable Diffusion on the face dataset, in two stages as Rombach et al.
 * 2022 do: (1) the KL autoencoder on pixels; (2) with the autoencoder frozen and the dataset encoded
 * once, the text encoder and U-Net together on latents, with caption dropout for classifier-free
 * guidance, on the paper's baseline schedule (linear β 1e-4 … 0.02, ε-prediction, as SD 1.x).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from "../models/config";
import { vaeDecode, vaeDownscaleFactor, vaeEncode, vaeParamSpecs } from "../models/vae";
import { initParams, disposeParams } from "../models/init";
import type { Params } from "../models/params";
import { WorkerPool } from "../parallel/pool";
import { poolSource, trainLoop } from "../train/trainer";
import { packedBatch, readPackedDataset } from "../data/dataset";
import { writeSafetensors } from "../io/safetensors";
import { clipTokenizer } from "../tokenizer/clip";
import { resolveScheduleConfig, ScheduleConfig } from "../schedules";
import type { PredictionType } from "../diffusion/forward";
import { DiffusionTaskConfig, LatentCache, pretrainSpecs, readLatentCache, TOKEN_TABLE } from "./diffusion-task";
import { writeComponent, writePipelineFiles, writeTokenizerFolder } from "./folder";
import { writeModelCard } from "./model-card";
import { shippedRawConfigs } from "../models/configs";
import type { Seed } from "../random";
import { writeFileAtomic } from "../io/atomic";
import { matmulCeiling } from "../kernels/ceiling";
import { clipTextForward, clipTextParamSpecs } from "../models/clip-text";
import { measureFlops } from "../models/layers";
import { unetForwardFlops } from "../models/pipeline";

const ext = __filename.endsWith(".ts") ? ".ts" : ".js";
const taskModule = (name: string) => path.join(__dirname, name + ext);

export interface PretrainOptions {
  /** the model folder written at the end (diffusers layout) */
  out: string;
  /** run folder: checkpoints, logs, latent cache */
  work: string;
  trainPack: string;
  valPack: string;
  /** raw diffusers configs; default the shipped "tiny" */
  configs?: { unet: unknown; vae: unknown; text_encoder: unknown };
  /** crop: train on random square crops of this side (0: whole images; see VaeTaskConfig.crop) */
  vae: { steps: number; batch: number; lr: number; klWeight: number; crop?: number };
  diffusion: {
    steps: number;
    batch: number;
    lr: number;
    warmupSteps: number;
    captionDropout: number;
    emaDecay?: number;
    schedule: ScheduleConfig;
    predictionType: PredictionType;
    /** min-SNR-γ loss weighting (Hang et al. 2023); undefined = uniform */
    minSnrGamma?: number;
    /** encode only the first N training images for this stage (encoding costs a forward pass each) */
    images?: number;
    /** train the 49,408-row token table too (default: frozen at its seeded init; see DiffusionTaskConfig) */
    trainTokenTable?: boolean;
  };
  workers: number;
  seed: Seed;
  checkpointEvery: number;
  /** weights' dtype in the final folder */
  dtype: "F32" | "F16";
}

export interface PretrainReport {
  /** training time of each stage from its log.csv, summed over interrupted and resumed runs */
  vaeTrainingSeconds?: number;
  diffusionTrainingSeconds?: number;
  vaeSeconds: number;
  encodeSeconds: number;
  diffusionSeconds: number;
  totalSeconds: number;
  vaeSamplesPerSecond: number;
  diffusionSamplesPerSecond: number;
  vaeFinalLoss: number;
  diffusionFinalLoss: number;
  valPsnr: number;
  /** FLOPs of one training sample of the second stage: 3 × the forward FLOPs of the U-Net and the text encoder */
  diffusionFlopsPerSample?: number;
  /**
   * one thread's matMul ceiling (lib/kernels/ceiling) on the main thread: the best of the measurements
   * in `matmulCeilingRuns` (a ceiling is what the kernel can do; one taken at the end of a run was seen
   * at 12 GFLOP/s against 31 in a fresh process a minute later)
   */
  matmulCeilingGflops?: number;
  /** each measurement of the ceiling, and when it was taken ("before training", "after training") */
  matmulCeilingRuns?: { gflops: number; when: string }[];
}

/** Training FLOPs per sample of the text encoder + U-Net stage: 3 × forward (backward ≈ 2 × forward). */
export function diffusionTrainFlopsPerSample(raw: { unet: unknown; text_encoder: unknown }, latentSide: number): number {
  const unet = parseUNetConfig(raw.unet);
  const text = parseClipTextConfig(raw.text_encoder);
  const L = text.max_position_embeddings;
  const params = initParams(clipTextParamSpecs(text), 0);
  try {
    const { flops: textFlops } = measureFlops(() => tf.tidy(() => clipTextForward(params, text, tf.zeros([1, L], "int32") as tf.Tensor2D)));
    return 3 * (unetForwardFlops(unet, { height: latentSide, width: latentSide, batch: 1, seqLen: L }) + textFlops);
  } finally {
    disposeParams(params);
  }
}

/** Standard deviation of z ~ q(z|x) over a latent cache: sqrt(Var(μ) + E[σ²]) (law of total variance). */
export function latentStandardDeviation(c: LatentCache): number {
  let sum = 0;
  let sq = 0;
  let v = 0;
  for (let i = 0; i < c.mean.length; i++) {
    sum += c.mean[i];
    sq += c.mean[i] * c.mean[i];
    v += Math.exp(c.logvar[i]);
  }
  const n = c.mean.length;
  const m = sum / n;
  return Math.sqrt(sq / n - m * m + v / n);
}

/**
 * Training seconds recorded in a trainLoop log.csv (columns step,…,seconds): each run's seconds count
 * from its own start, so a resume shows as a drop; the total is the sum of every run's last value.
 */
export function logTrainingSeconds(file: string): number {
  if (!fs.existsSync(file)) return 0;
  const rows = fs.readFileSync(file, "utf8").trim().split("\n").slice(1);
  let total = 0;
  let last = 0;
  for (const r of rows) {
    const s = Number(r.split(",").pop());
    if (!Number.isFinite(s)) continue;
    if (s < last) total += last;
    last = s;
  }
  return total + last;
}

/** PSNR of x ∈ [−1, 1] against y: 10·log10(2² / MSE). */
export function psnr(mse: number): number {
  return 10 * Math.log10(4 / mse);
}

/** Mean reconstruction PSNR (through the mean latent) over a packed split. */
export async function reconstructionPsnr(params: Params, rawVae: unknown, packFile: string, limit = 256, batch = 16): Promise<number> {
  const config = parseVaeConfig(rawVae);
  const pack = readPackedDataset(packFile);
  const n = Math.min(limit, pack.count);
  let total = 0;
  for (let s = 0; s < n; s += batch) {
    const idx = Array.from({ length: Math.min(batch, n - s) }, (_, i) => s + i);
    const b = packedBatch(pack, idx);
    const mses = tf.tidy(() => {
      const x = tf.tensor4d(b.data, b.shape);
      const { mean } = vaeEncode(params, config, x);
      const y = tf.clipByValue(vaeDecode(params, config, mean), -1, 1);
      return tf.mean(tf.squaredDifference(x, y), [1, 2, 3]);
    });
    for (const m of await mses.data()) total += psnr(m);
    mses.dispose();
  }
  return total / n;
}

/** sha256 of a file, read in 64 MiB pieces (a packed training split is hundreds of MB). */
export function fileSha256(file: string): string {
  const h = createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(64 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** Encodes a packed split once: latent mean and log-variance, and the caption ids, to safetensors. */
export async function encodeDataset(params: Params, rawVae: unknown, packFile: string, outFile: string, batch = 32, limit = Infinity): Promise<number> {
  const config = parseVaeConfig(rawVae);
  const full = readPackedDataset(packFile);
  const pack = { ...full, count: Math.min(limit, full.count), records: full.records.slice(0, Math.min(limit, full.count)) };
  const tok = clipTokenizer();
  const means: Float32Array[] = [];
  const logvars: Float32Array[] = [];
  let latentShape: number[] = [];
  for (let s = 0; s < pack.count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, pack.count - s) }, (_, i) => s + i);
    const b = packedBatch(pack, idx);
    const x = tf.tensor4d(b.data, b.shape);
    const d = vaeEncode(params, config, x);
    latentShape = d.mean.shape.slice(1);
    means.push((await d.mean.data()) as Float32Array);
    logvars.push((await d.logvar.data()) as Float32Array);
    tf.dispose([x, d.mean, d.logvar]);
  }
  const cat = (a: Float32Array[]) => {
    const out = new Float32Array(a.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of a) (out.set(x, o), (o += x.length));
    return out;
  };
  const ids = new Float32Array(pack.count * 77);
  pack.records.forEach((r, i) => ids.set(tok.encode(r.caption), i * 77));
  writeSafetensors(
    outFile,
    new Map([
      ["mean", { shape: [pack.count, ...latentShape], data: cat(means) }],
      ["logvar", { shape: [pack.count, ...latentShape], data: cat(logvars) }],
      ["input_ids", { shape: [pack.count, 77], data: ids }],
    ]),
    { metadata: { source_sha256: fileSha256(packFile), images: String(pack.count) } },
  );
  return pack.count;
}

export async function pretrain(o: PretrainOptions): Promise<PretrainReport> {
  const t0 = Date.now();
  const raw = { ...(o.configs ?? shippedRawConfigs("tiny")) };
  // check every config now, so a bad one fails before the hours of work, not after
  const vaeConfig = parseVaeConfig(raw.vae);
  parseUNetConfig(raw.unet);
  parseClipTextConfig(raw.text_encoder);
  fs.mkdirSync(o.work, { recursive: true });
  const { count: trainCount, size: imageSize } = readPackedDataset(o.trainPack);
  const crop = o.vae.crop ?? 0;
  const factor = vaeDownscaleFactor(vaeConfig);
  if (crop && (!Number.isInteger(crop) || crop < factor || crop > imageSize || crop % factor !== 0)) {
    throw new Error(`--vae-crop ${crop}: must be a multiple of the autoencoder's downscaling (${factor}) between ${factor} and the image size ${imageSize}, or 0 for whole images`);
  }

  const ceilingBefore = (await matmulCeiling()).gflops;

  // ── stage 1: the autoencoder ────────────────────────────────────────────────────────────────
  const vaeSpecs = vaeParamSpecs(vaeConfig);
  const vae = initParams(vaeSpecs, 1);
  const vaeRun = path.join(o.work, "vae");
  let pool = await WorkerPool.start({ module: taskModule("vae-task"), size: o.workers, config: { packFile: path.resolve(o.trainPack), vae: raw.vae, klWeight: o.vae.klWeight, seed: o.seed, crop } });
  let vaeResult;
  try {
    vaeResult = await trainLoop({
      label: "autoencoder",
      outDir: vaeRun,
      totalSteps: o.vae.steps,
      batchSize: o.vae.batch,
      datasetSize: trainCount,
      seed: o.seed,
      lr: { lr: o.vae.lr, warmupSteps: 50, decay: "cosine" },
      optimizer: { weightDecay: 0 },
      clipNorm: 1,
      checkpointEvery: o.checkpointEvery,
      components: [{ name: "vae", params: vae, specs: vaeSpecs }],
      source: poolSource(pool),
      config: { stage: "vae", ...o.vae, trainPack: o.trainPack, workers: o.workers, seed: o.seed, vaeConfig: raw.vae },
    });
  } finally {
    await pool.close();
  }
  const vaeSeconds = (Date.now() - t0) / 1000;
  const valPsnr = await reconstructionPsnr(vae, raw.vae, o.valPack);
  console.error(`autoencoder: ${vaeResult.stepsRun} steps in ${vaeSeconds.toFixed(0)} s, held-out reconstruction PSNR ${valPsnr.toFixed(2)} dB`);

  // ── encode the dataset once (the autoencoder is frozen from here on) ─────────────────────────
  const t1 = Date.now();
  const latentsFile = path.join(o.work, "latents.safetensors");
  // reused only if newer than the autoencoder's last checkpoint (a resumed run), encoded from this
  // training split (same sha256: a regenerated dataset re-encodes) and holding exactly the images asked for
  const vaeLatest = path.join(vaeRun, "checkpoints", "latest");
  const wanted = Math.min(trainCount, o.diffusion.images ?? Infinity);
  const fresh = fs.existsSync(latentsFile) && fs.existsSync(vaeLatest) && fs.statSync(latentsFile).mtimeMs > fs.statSync(vaeLatest).mtimeMs;
  let latents = fresh ? readLatentCache(latentsFile) : null;
  const cached = latents?.count === wanted && latents.sourceSha256 === fileSha256(o.trainPack);
  if (!cached) {
    const n = await encodeDataset(vae, raw.vae, o.trainPack, latentsFile, 32, o.diffusion.images ?? Infinity);
    console.error(`encoded ${n} training images in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
    latents = readLatentCache(latentsFile);
  } else {
    console.error(`reusing ${latentsFile} (${latents!.count} images)`);
  }
  const diffusionCount = latents!.count;
  // Rombach et al. 2022 (§4.3.2, "unit standard deviation"): scale latents by 1/std of the encoded
  // data, so the diffusion model sees the variance its noise schedule assumes. SD 1.x's 0.18215 was
  // measured on its own autoencoder; a new one needs its own.
  const latentStd = latentStandardDeviation(latents!);
  raw.vae = { ...(raw.vae as object), scaling_factor: Number((1 / latentStd).toPrecision(6)) };
  console.error(`latent std ${latentStd.toFixed(4)}: scaling_factor = ${(raw.vae as { scaling_factor: number }).scaling_factor}`);
  const encodeSeconds = (Date.now() - t1) / 1000;

  // ── stage 2: text encoder + U-Net on latents ─────────────────────────────────────────────────
  const t2 = Date.now();
  const specs = pretrainSpecs(raw.unet, raw.text_encoder);
  const unet = initParams(specs.unet, 2);
  const TE_SEED = 3;
  const te = initParams(specs.textEncoder, TE_SEED);
  const frozen = o.diffusion.trainTokenTable ? [] : [TOKEN_TABLE];
  for (const name of frozen) {
    // frozen: a non-trainable variable, so the optimizer and the gradient tape skip it
    const v = te.get(name)!;
    te.set(name, tf.variable(v, false));
    v.dispose();
  }
  const schedule = resolveScheduleConfig(o.diffusion.schedule);
  const taskConfig: DiffusionTaskConfig = {
    latentsFile: path.resolve(latentsFile),
    emptyIds: clipTokenizer().encode(""),
    unet: raw.unet,
    textEncoder: raw.text_encoder,
    scalingFactor: parseVaeConfig(raw.vae).scaling_factor,
    schedule,
    predictionType: o.diffusion.predictionType,
    minSnrGamma: o.diffusion.minSnrGamma,
    captionDropout: o.diffusion.captionDropout,
    seed: o.seed,
    frozenTextParams: frozen,
    textEncoderInitSeed: TE_SEED,
  };
  pool = await WorkerPool.start({ module: taskModule("diffusion-task"), size: o.workers, config: taskConfig });
  let diff;
  try {
    diff = await trainLoop({
      label: "text encoder + U-Net",
      outDir: path.join(o.work, "diffusion"),
      totalSteps: o.diffusion.steps,
      batchSize: o.diffusion.batch,
      datasetSize: diffusionCount,
      seed: o.seed,
      lr: { lr: o.diffusion.lr, warmupSteps: o.diffusion.warmupSteps, decay: "cosine" },
      clipNorm: 1,
      emaDecay: o.diffusion.emaDecay,
      checkpointEvery: o.checkpointEvery,
      components: [
        { name: "unet", params: unet, specs: specs.unet },
        { name: "text_encoder", params: te, specs: specs.textEncoder },
      ],
      source: poolSource(pool),
      config: { stage: "diffusion", ...o.diffusion, schedule, trainPack: o.trainPack, workers: o.workers, seed: o.seed },
    });
  } finally {
    await pool.close();
  }
  const diffusionSeconds = (Date.now() - t2) / 1000;

  // ── the model folder: EMA weights where kept ─────────────────────────────────────────────────
  if (diff.ema) for (const [k, v] of diff.ema.shadow) (unet.get(k) ?? te.get(k))!.assign(v);
  const meta = { seed: String(o.seed), trained_by: "improved-dreambooth pretrain" };
  await writeComponent(o.out, "vae", raw.vae, vae, vaeSpecs, o.dtype, meta);
  await writeComponent(o.out, "unet", raw.unet, unet, specs.unet, o.dtype, meta);
  await writeComponent(o.out, "text_encoder", raw.text_encoder, te, specs.textEncoder, o.dtype, meta);
  writeTokenizerFolder(o.out, clipTokenizer());
  writePipelineFiles(o.out, schedule, o.diffusion.predictionType);
  diff.ema?.dispose();
  [vae, unet, te].forEach(disposeParams);
  const ceilingRuns = [
    { gflops: ceilingBefore, when: "before training" },
    { gflops: (await matmulCeiling()).gflops, when: "after training" },
  ];
  const report: PretrainReport = {
    vaeTrainingSeconds: logTrainingSeconds(path.join(vaeRun, "log.csv")),
    diffusionTrainingSeconds: logTrainingSeconds(path.join(o.work, "diffusion", "log.csv")),
    vaeSeconds,
    encodeSeconds,
    diffusionSeconds,
    totalSeconds: (Date.now() - t0) / 1000,
    vaeSamplesPerSecond: vaeResult.samplesPerSecond,
    diffusionSamplesPerSecond: diff.samplesPerSecond,
    vaeFinalLoss: vaeResult.lastLoss,
    diffusionFinalLoss: diff.lastLoss,
    valPsnr,
    diffusionFlopsPerSample: diffusionTrainFlopsPerSample(raw, parseUNetConfig(raw.unet).sample_size),
    matmulCeilingGflops: Math.max(...ceilingRuns.map((c) => c.gflops)),
    matmulCeilingRuns: ceilingRuns,
  };
  writeFileAtomic(path.join(o.out, "training.json"), JSON.stringify({ options: o, report }, null, 2) + "\n");
  writeModelCard(o.out, o, report);
  for (const [stage, dir] of [["vae", vaeRun], ["diffusion", path.join(o.work, "diffusion")]]) {
    fs.copyFileSync(path.join(dir, "log.csv"), path.join(o.out, `training-log-${stage}.csv`));
  }
  return report;
}
