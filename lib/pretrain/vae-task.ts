/**
 * The autoencoder's training step as a data-parallel task: encode, sample the latent, decode;
 * loss = MSE(reconstruction, image) + kl_weight · KL(q(z|x) ‖ N(0, I)) (Kingma & Welling 2014, eq. 10;
 * Rombach et al. 2022 use a small KL weight so the latent space stays close to a Gaussian).
 */
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { perSampleNoise } from "../diffusion/noise";
import { parseVaeConfig, VaeConfig } from "../models/config";
import { vaeDecode, vaeDownscaleFactor, vaeEncode, vaeParamSpecs } from "../models/vae";
import { zeroParams } from "../models/init";
import type { Params } from "../models/params";
import { packedBatch, readPackedDataset } from "../data/dataset";
import type { ParallelTask } from "../parallel/task";
import { variableTask } from "../parallel/variable-task";
import type { StepShard } from "../train/trainer";
import { rng, Seed } from "../random";

export interface VaeTaskConfig {
  /** packed face dataset (lib/data `writePackedDataset`) */
  packFile: string;
  /** diffusers AutoencoderKL config.json content */
  vae: unknown;
  klWeight: number;
  seed: Seed;
  /**
   * Train on random square crops of this side instead of whole images (0 or absent: whole images).
   * The autoencoder is convolutional apart from its mid-block attention, so it applies to whole
   * images afterwards; a 32-pixel crop costs a quarter of a 64-pixel image, so the same minutes
   * buy 4× the updates (Rombach et al. 2022 train their autoencoders on 256² crops too).
   */
  crop?: number;
}

/** Per-sample crop offsets, derived from (seed, step, sample index): independent of how the batch is split. */
export function cropBatch(x: tf.Tensor4D, crop: number, seed: Seed, step: number, samples: number[]): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (!crop || crop === h) return x.clone();
  if (!Number.isInteger(crop) || crop < 1 || crop > h || crop > w)
    throw new RangeError(`autoencoder crop must be an integer in [1, ${Math.min(h, w)}] (got ${crop})`);
  return tf.tidy(
    () =>
      tf.concat(
        samples.map((s, i) => {
          const r = rng(seed, "vae-crop", step, s);
          const top = Math.floor(r() * (h - crop + 1));
          const left = Math.floor(r() * (w - crop + 1));
          return tf.slice(x, [i, top, left, 0], [1, crop, crop, -1]);
        }),
        0,
      ) as tf.Tensor4D,
  );
}

/** Loss of one batch (call inside tf.variableGrads). */
export function vaeLoss(
  params: Params,
  config: VaeConfig,
  images: tf.Tensor4D,
  noise: tf.Tensor4D,
  klWeight: number,
): tf.Scalar {
  return tf.tidy(() => {
    const { mean, logvar } = vaeEncode(params, config, images);
    const z = tf.add(mean, tf.mul(tf.exp(tf.mul(logvar, 0.5)), noise)) as tf.Tensor4D;
    const recon = vaeDecode(params, config, z);
    const mse = tf.mean(tf.squaredDifference(recon, images));
    // KL per latent element, averaged: ½(μ² + σ² − 1 − log σ²)
    const kl = tf.mean(tf.mul(tf.sub(tf.add(tf.square(mean), tf.exp(logvar)), tf.add(logvar, 1)), 0.5));
    return tf.add(mse, tf.mul(kl, klWeight)) as tf.Scalar;
  });
}

export function setup(cfg: VaeTaskConfig): ParallelTask<StepShard> {
  const config = parseVaeConfig(cfg.vae);
  const specs = vaeParamSpecs(config);
  const params = zeroParams(specs);
  const pack = readPackedDataset(cfg.packFile);
  const f = vaeDownscaleFactor(config);
  const loss = (shard: StepShard) =>
    tf.tidy(() => {
      const b = packedBatch(pack, shard.samples);
      const x = cropBatch(tf.tensor4d(b.data, b.shape), cfg.crop ?? 0, cfg.seed, shard.step, shard.samples);
      const noise = perSampleNoise(
        [x.shape[1] / f, x.shape[2] / f, config.latent_channels],
        cfg.seed,
        "vae-z",
        shard.step,
        shard.samples,
      );
      return vaeLoss(params, config, x, noise, cfg.klWeight);
    });
  return variableTask(
    specs.map((s) => [s.name, params.get(s.name)!]),
    loss,
    (shard) => shard.samples.length,
  );
}
