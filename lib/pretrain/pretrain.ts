/**
 * Pretraining the embedded tiny Stable Diffusion on the face dataset, in two stages as Rombach et al.
 * 2022 do: (1) the KL autoencoder on pixels; (2) with the autoencoder frozen and the dataset encoded
 * once, the text encoder and U-Net together on latents, with caption dropout for classifier-free
 * guidance, on the paper's baseline schedule (linear β 1e-4 … 0.02, ε-prediction, as SD 1.x).
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { parseClipTextConfig, parseUNetConfig, parseVaeConfig } from "../models/config";
import { vaeDownscaleFactor, vaeParamSpecs } from "../models/vae";
import { initParams, disposeParams } from "../models/init";
import { WorkerPool } from "../parallel/pool";
import { poolSource, trainLoop } from "../train/trainer";
import { readPackedDataset } from "../data/dataset";
import { clipTokenizer } from "../tokenizer/clip";
import { resolveScheduleConfig } from "../schedules";
import { DiffusionTaskConfig, pretrainSpecs, readLatentCache, TOKEN_TABLE } from "./diffusion-task";
import { writeComponent, writePipelineFiles, writeTokenizerFolder } from "../models/folder";
import { writeModelCard } from "./model-card";
import type { PretrainOptions, PretrainReport } from "./types";
import { encodeDataset, latentStandardDeviation, reconstructionPsnr } from "./autoencoder";
import { fileSha256 } from "../io/sha256";
import { shippedRawConfigs } from "../models/configs";
import { writeFileAtomic } from "../io/atomic";
import { matmulCeiling } from "../kernels/ceiling";
import { clipTextForward, clipTextParamSpecs } from "../models/clip-text";
import { measureFlops } from "../models/layers";
import { unetForwardFlops } from "../models/components";

const ext = __filename.endsWith(".ts") ? ".ts" : ".js";

/** Training FLOPs per sample of the text encoder + U-Net stage: 3 × forward (backward ≈ 2 × forward). */
export function diffusionTrainFlopsPerSample(
  raw: { unet: unknown; text_encoder: unknown },
  latentSide: number,
): number {
  const unet = parseUNetConfig(raw.unet);
  const text = parseClipTextConfig(raw.text_encoder);
  const L = text.max_position_embeddings;
  const params = initParams(clipTextParamSpecs(text), 0);
  try {
    const { flops: textFlops } = measureFlops(() =>
      tf.tidy(() => clipTextForward(params, text, tf.zeros([1, L], "int32") as tf.Tensor2D)),
    );
    return 3 * (unetForwardFlops(unet, { height: latentSide, width: latentSide, batch: 1, seqLen: L }) + textFlops);
  } finally {
    disposeParams(params);
  }
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

export type { PretrainOptions, PretrainReport } from "./types";

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
    throw new Error(
      `--vae-crop ${crop}: must be a multiple of the autoencoder's downscaling (${factor}) between ${factor} and the image size ${imageSize}, or 0 for whole images`,
    );
  }

  const ceilingBefore = (await matmulCeiling()).gflops;

  // ── stage 1: the autoencoder ────────────────────────────────────────────────────────────────
  const vaeSpecs = vaeParamSpecs(vaeConfig);
  const vae = initParams(vaeSpecs, 1);
  const vaeRun = path.join(o.work, "vae");
  let pool = await WorkerPool.start({
    module: path.join(__dirname, "vae-task" + ext),
    size: o.workers,
    config: { packFile: path.resolve(o.trainPack), vae: raw.vae, klWeight: o.vae.klWeight, seed: o.seed, crop },
  });
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
  console.error(
    `autoencoder: ${vaeResult.stepsRun} steps in ${vaeSeconds.toFixed(0)} s, held-out reconstruction PSNR ${valPsnr.toFixed(2)} dB`,
  );

  // ── encode the dataset once (the autoencoder is frozen from here on) ─────────────────────────
  const t1 = Date.now();
  const latentsFile = path.join(o.work, "latents.safetensors");
  // reused only if newer than the autoencoder's last checkpoint (a resumed run), encoded from this
  // training split (same sha256: a regenerated dataset re-encodes) and holding exactly the images asked for
  const vaeLatest = path.join(vaeRun, "checkpoints", "latest");
  const wanted = Math.min(trainCount, o.diffusion.images ?? Infinity);
  const fresh =
    fs.existsSync(latentsFile) &&
    fs.existsSync(vaeLatest) &&
    fs.statSync(latentsFile).mtimeMs > fs.statSync(vaeLatest).mtimeMs;
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
  console.error(
    `latent std ${latentStd.toFixed(4)}: scaling_factor = ${(raw.vae as { scaling_factor: number }).scaling_factor}`,
  );
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
  pool = await WorkerPool.start({
    module: path.join(__dirname, "diffusion-task" + ext),
    size: o.workers,
    config: taskConfig,
  });
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
      config: {
        stage: "diffusion",
        ...o.diffusion,
        schedule,
        trainPack: o.trainPack,
        workers: o.workers,
        seed: o.seed,
      },
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
    encodeCached: cached,
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
  for (const [stage, dir] of [
    ["vae", vaeRun],
    ["diffusion", path.join(o.work, "diffusion")],
  ]) {
    fs.copyFileSync(path.join(dir, "log.csv"), path.join(o.out, `training-log-${stage}.csv`));
  }
  return report;
}
