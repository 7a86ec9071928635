/**
 * The text encoder + U-Net training step as a data-parallel task (latent diffusion, Rombach et al.
 * 2022, eq. 2): sample z from the cached latent distribution, scale it, noise it at a random t
 * (the paper's Eq. 1), drop the caption with probability p (for classifier-free guidance, Ho &
 * Salimans 2022), encode the caption, predict, MSE against the prediction type's target.
 * Every draw is derived from (seed, step, sample index), so it does not depend on the split.
 */
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { parseClipTextConfig, parseUNetConfig } from "../models/config";
import { unetForward, unetParamSpecs } from "../models/unet";
import { clipTextForward, clipTextParamSpecs } from "../models/clip-text";
import { initParams, zeroParams } from "../models/init";
import type { ParamSpec, Params } from "../models/params";
import { readSafetensors } from "../io/safetensors";
import type { ParallelTask } from "../parallel/task";
import { variableTask } from "../parallel/variable-task";
import type { StepShard } from "../train/trainer";
import { rng, Seed } from "../random";
import { makeSchedule, ScheduleConfig } from "../schedules";
import type { PredictionType } from "../diffusion/forward";
import { diffusionLoss } from "../diffusion/loss";
import { perSampleNoise } from "../diffusion/noise";

export interface DiffusionTaskConfig {
  /** safetensors with "mean" and "logvar" [N, h, w, c] (unscaled) and "input_ids" [N, 77] (as F32) */
  latentsFile: string;
  /** token ids of the empty caption (for dropout) */
  emptyIds: number[];
  unet: unknown;
  textEncoder: unknown;
  scalingFactor: number;
  schedule: ScheduleConfig;
  predictionType: PredictionType;
  captionDropout: number;
  minSnrGamma?: number;
  seed: Seed;
  /**
   * Text-encoder parameters kept frozen at their seeded initial values (initParams with
   * `textEncoderInitSeed`): by default the 49,408-row token table. Random vectors for the few hundred
   * words in the captions are nearly orthogonal, so the transformer layers learn to read them; the
   * frozen table costs no gradient, no optimizer state and no transfer between workers.
   */
  frozenTextParams: string[];
  textEncoderInitSeed: number;
}

export const TOKEN_TABLE = "text_model.embeddings.token_embedding.weight";

export interface LatentCache {
  mean: Float32Array;
  logvar: Float32Array;
  ids: Float32Array;
  count: number;
  latentShape: [number, number, number];
  /** sha256 of the packed split it was encoded from ("" in caches written before it was recorded) */
  sourceSha256: string;
}

export function readLatentCache(file: string): LatentCache {
  const { tensors, metadata } = readSafetensors(file);
  const get = (k: string) => {
    const t = tensors.get(k);
    if (!t) throw new Error(`${file} has no "${k}" tensor: rebuild the latent cache (dreambooth pretrain encodes it)`);
    return t;
  };
  const mean = get("mean");
  return {
    mean: mean.data as Float32Array,
    logvar: get("logvar").data as Float32Array,
    ids: get("input_ids").data as Float32Array,
    count: mean.shape[0],
    latentShape: mean.shape.slice(1) as [number, number, number],
    sourceSha256: metadata.source_sha256 ?? "",
  };
}

/** The trainable specs of pretraining: U-Net then text encoder (distinct names, one optimizer). */
export function pretrainSpecs(unet: unknown, textEncoder: unknown): { unet: ParamSpec[]; textEncoder: ParamSpec[] } {
  return {
    unet: unetParamSpecs(parseUNetConfig(unet)),
    textEncoder: clipTextParamSpecs(parseClipTextConfig(textEncoder)),
  };
}

/** The loss of one shard, given live parameters (used by the worker task and by in-process training). */
export function makeDiffusionLoss(
  cfg: DiffusionTaskConfig,
  cache: LatentCache,
  unetParams: Params,
  textParams: Params,
): (shard: StepShard) => tf.Scalar {
  const unet = parseUNetConfig(cfg.unet);
  const te = parseClipTextConfig(cfg.textEncoder);
  const schedule = makeSchedule(cfg.schedule);
  const per = cache.latentShape.reduce((a, b) => a * b, 1);
  const L = cfg.emptyIds.length;
  return (shard) => {
    const n = shard.samples.length;
    // 1. per-sample draws: latent noise, diffusion noise, timestep, caption dropout
    const t = new Int32Array(n);
    const ids = new Int32Array(n * L);
    const mean = new Float32Array(n * per);
    const logvar = new Float32Array(n * per);
    shard.samples.forEach((s, i) => {
      const r = rng(cfg.seed, "diffusion", shard.step, s);
      t[i] = Math.floor(r() * schedule.T);
      const drop = r() < cfg.captionDropout;
      for (let k = 0; k < L; k++) ids[i * L + k] = drop ? cfg.emptyIds[k] : cache.ids[s * L + k];
      mean.set(cache.mean.subarray(s * per, (s + 1) * per), i * per);
      logvar.set(cache.logvar.subarray(s * per, (s + 1) * per), i * per);
    });
    return tf.tidy(() => {
      const shape: [number, number, number, number] = [n, ...cache.latentShape];
      const zNoise = perSampleNoise(cache.latentShape, cfg.seed, "latent", shard.step, shard.samples);
      const noise = perSampleNoise(cache.latentShape, cfg.seed, "noise", shard.step, shard.samples);
      // 2. z ~ q(z|x), scaled to unit variance for the U-Net
      const z = tf.mul(
        tf.add(tf.tensor4d(mean, shape), tf.mul(tf.exp(tf.mul(tf.tensor4d(logvar, shape), 0.5)), zNoise)),
        cfg.scalingFactor,
      ) as tf.Tensor4D;
      // 3. caption → text states [n, 77, D]
      const ehs = clipTextForward(textParams, te, tf.tensor2d(ids, [n, L], "int32"));
      // 4. weighted MSE; each sample weighs 1/batch so the shards' sum is the batch mean
      const w = new Float32Array(n).fill(1 / n);
      return diffusionLoss((xt, tt) => unetForward(unetParams, unet, xt, tt, ehs), z, noise, t, w, {
        schedule,
        predictionType: cfg.predictionType,
        minSnrGamma: cfg.minSnrGamma,
      });
    });
  };
}

export function setup(cfg: DiffusionTaskConfig): ParallelTask<StepShard> {
  const specs = pretrainSpecs(cfg.unet, cfg.textEncoder);
  const unetParams = zeroParams(specs.unet);
  const frozen = new Set(cfg.frozenTextParams);
  const trainableText = specs.textEncoder.filter((s) => !frozen.has(s.name));
  const textParams = zeroParams(trainableText);
  const fixed = initParams(
    specs.textEncoder.filter((s) => frozen.has(s.name)),
    cfg.textEncoderInitSeed,
  );
  for (const [k, v] of fixed) textParams.set(k, v);
  const all = [...specs.unet, ...trainableText];
  const cache = readLatentCache(cfg.latentsFile);
  const named: [string, tf.Variable][] = all.map((s) => [s.name, (unetParams.get(s.name) ?? textParams.get(s.name))!]);
  return variableTask(named, makeDiffusionLoss(cfg, cache, unetParams, textParams), (shard) => shard.samples.length);
}
