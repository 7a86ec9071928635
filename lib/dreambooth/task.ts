/**
 * DreamBooth's training step (Ruiz et al. 2023, eq. 2) as a data-parallel task, U-Net only (the
 * paper's setting): each batch holds instance examples (the subject, with the instance prompt)
 * and class examples (images the base model made for the class prompt, with the class prompt);
 *   loss = mean over instances of ‖ε̂ − target‖² + λ · mean over class images of ‖ε̂ − target‖²
 * (the class-specific prior-preservation loss), with the forward process set by the beta schedule,
 * zero terminal SNR and the prediction type. The text encoder is frozen, so each prompt's text
 * states are computed once and passed in.
 *
 * Reading a step top to bottom: `dreamboothTrain` (./train.ts) encodes the images and prompts once and
 * hands `trainLoop` (../train/trainer.ts) the step's sample indices; each worker runs
 * `makeDreamBoothLoss` below on its shard; `diffusionLoss` (../diffusion/loss.ts) noises the latents and
 * takes the squared error against the target of ../diffusion/forward.ts; the trainer averages the
 * shards' gradients, clips them and applies AdamW.
 */
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { parseUNetConfig } from "../models/config";
import { unetForward, unetParamSpecs } from "../models/unet";
import { zeroParams } from "../models/init";
import type { Params } from "../models/params";
import type { ParallelTask } from "../parallel/task";
import { variableTask } from "../parallel/variable-task";
import type { StepShard } from "../train/trainer";
import { rng, Seed } from "../random";
import { makeSchedule, ScheduleConfig } from "../schedules";
import type { PredictionType } from "../diffusion/forward";
import { diffusionLoss, withOffsetNoise } from "../diffusion/loss";
import { perSampleNoise } from "../diffusion/noise";

/** Latent distributions of a set of images: mean and log-variance [n, h, w, c], flat. */
export interface LatentSet {
  mean: Float32Array;
  logvar: Float32Array;
  count: number;
}

export interface DreamBoothTaskConfig {
  unet: unknown;
  latentShape: [number, number, number];
  scalingFactor: number;
  instance: LatentSet;
  /** empty when prior preservation is off */
  prior: LatentSet;
  /** text states [77 · D] of the instance and class prompts */
  instanceStates: Float32Array;
  classStates: Float32Array;
  statesShape: [number, number];
  priorWeight: number;
  /** instance examples in every batch (the rest are class examples) */
  instancesPerBatch: number;
  schedule: ScheduleConfig;
  predictionType: PredictionType;
  minSnrGamma?: number;
  offsetNoise?: number;
  seed: Seed;
}

/**
 * The loss of one shard of a step. Sample index convention: indices < instance.count are instance
 * images; the rest are class images (index − instance.count); `dreamboothTrain`'s `samplesFor` draws
 * both kinds for every step.
 */
export function makeDreamBoothLoss(cfg: DreamBoothTaskConfig, unet: Params): (shard: StepShard) => tf.Scalar {
  const config = parseUNetConfig(cfg.unet);
  const schedule = makeSchedule(cfg.schedule);
  const per = cfg.latentShape.reduce((a, b) => a * b, 1);
  const nInst = cfg.instance.count;
  return (shard) => {
    // 1. which examples: instance or class image, and their loss weights
    const n = shard.samples.length;
    const isInst = shard.samples.map((s) => s < nInst);
    // per-sample weights: instances share weight 1, class images share λ, over the whole batch;
    // ×(batch / n) because the pool averages shards by their sample count
    const batchInst = cfg.instancesPerBatch;
    const batchPrior = shard.batch - batchInst;
    const scale = shard.batch / n;
    const w = Float32Array.from(
      isInst,
      (inst) => scale * (inst ? 1 / batchInst : batchPrior ? cfg.priorWeight / batchPrior : 0),
    );
    // 2. per sample, a timestep drawn from (seed, step, sample), its latent distribution and prompt states
    const t = new Int32Array(n);
    const mean = new Float32Array(n * per);
    const logvar = new Float32Array(n * per);
    const states = new Float32Array(n * cfg.statesShape[0] * cfg.statesShape[1]);
    shard.samples.forEach((s, i) => {
      const r = rng(cfg.seed, "dreambooth", shard.step, s);
      t[i] = Math.floor(r() * schedule.T);
      const set = isInst[i] ? cfg.instance : cfg.prior;
      const k = isInst[i] ? s : s - nInst;
      mean.set(set.mean.subarray(k * per, (k + 1) * per), i * per);
      logvar.set(set.logvar.subarray(k * per, (k + 1) * per), i * per);
      states.set(isInst[i] ? cfg.instanceStates : cfg.classStates, i * cfg.instanceStates.length);
    });
    return tf.tidy(() => {
      const shape: [number, number, number, number] = [n, ...cfg.latentShape];
      // 3. a latent sample z = scaling · (μ + σ·ε_z), as Stable Diffusion's training draws from the VAE
      const z = tf.mul(
        tf.add(
          tf.tensor4d(mean, shape),
          tf.mul(
            tf.exp(tf.mul(tf.tensor4d(logvar, shape), 0.5)),
            perSampleNoise(cfg.latentShape, cfg.seed, "db-latent", shard.step, shard.samples),
          ),
        ),
        cfg.scalingFactor,
      ) as tf.Tensor4D;
      // 4. the forward process's noise ε (plus offset noise, when asked for)
      let noise = perSampleNoise(cfg.latentShape, cfg.seed, "db-noise", shard.step, shard.samples);
      if (cfg.offsetNoise) {
        const off = tf.reshape(
          perSampleNoise([1, 1, cfg.latentShape[2]], cfg.seed, "db-offset", shard.step, shard.samples),
          [n, cfg.latentShape[2]],
        ) as tf.Tensor2D;
        noise = withOffsetNoise(noise, off, cfg.offsetNoise);
      }
      // 5. x_t from (z, ε, t), the U-Net's prediction, and the weighted squared error against the target
      const ehs = tf.tensor3d(states, [n, ...cfg.statesShape]);
      return diffusionLoss((xt, tt) => unetForward(unet, config, xt, tt, ehs), z, noise, t, w, {
        schedule,
        predictionType: cfg.predictionType,
        minSnrGamma: cfg.minSnrGamma,
      });
    });
  };
}

export function setup(cfg: DreamBoothTaskConfig): ParallelTask<StepShard> {
  const specs = unetParamSpecs(parseUNetConfig(cfg.unet));
  const unet = zeroParams(specs);
  return variableTask(
    specs.map((s) => [s.name, unet.get(s.name)!]),
    makeDreamBoothLoss(cfg, unet),
    (shard) => shard.samples.length,
  );
}
