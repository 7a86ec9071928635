/**
 * The forward (noising) process and the training targets, on tfjs tensors.
 *
 * The paper's Eq. 1 (DDPM, Ho et al. 2020, eq. 4): q(x_t | x_0) = N(sqrt(ᾱ_t) x_0, (1 − ᾱ_t) I), so
 *   x_t = sqrt(ᾱ_t) · x_0 + sqrt(1 − ᾱ_t) · ε,   ε ~ N(0, I).
 * Timesteps are 0-based indices into the schedule's arrays (index 0 is t = 1), as in diffusers.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NoiseSchedule } from "../schedules";

export const PREDICTION_TYPES = ["epsilon", "v_prediction", "sample"] as const;
export type PredictionType = (typeof PREDICTION_TYPES)[number];

export type Timesteps = tf.Tensor1D | number[] | Int32Array;

function toIndices(t: Timesteps): Int32Array {
  return t instanceof tf.Tensor ? Int32Array.from(t.dataSync()) : Int32Array.from(t);
}

function checkTimesteps(s: NoiseSchedule, t: Timesteps, batch: number): Int32Array {
  const ts = toIndices(t);
  if (ts.length !== batch) {
    throw new Error(`timesteps has ${ts.length} entries but the batch has ${batch}: give one timestep per sample`);
  }
  for (const v of ts) {
    if (!(Number.isInteger(v) && v >= 0 && v < s.T)) {
      throw new Error(`timestep ${v} is outside [0, ${s.T - 1}] (0-based; index 0 is t = 1)`);
    }
  }
  return ts;
}

/**
 * Gathers a per-timestep constant for each sample and shapes it [B, 1, …, 1] to broadcast
 * against a tensor of rank `rank` (the one `extract` helper every q_sample / target uses).
 */
export function gather(a: Float64Array, t: Timesteps, rank: number): tf.Tensor {
  const ts = toIndices(t);
  const vals = new Float32Array(ts.length);
  for (let i = 0; i < ts.length; i++) vals[i] = a[ts[i]];
  return tf.tensor(vals, [ts.length, ...new Array(rank - 1).fill(1)]);
}

function checkPair(x0: tf.Tensor, noise: tf.Tensor) {
  if (x0.shape.join() !== noise.shape.join()) {
    throw new Error(`x0 has shape [${x0.shape}] but noise has [${noise.shape}]: they must match`);
  }
}

/** x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε (the paper's Eq. 1; diffusers `add_noise`). */
export function addNoise(s: NoiseSchedule, x0: tf.Tensor, noise: tf.Tensor, t: Timesteps): tf.Tensor {
  checkPair(x0, noise);
  checkTimesteps(s, t, x0.shape[0]);
  return tf.tidy(() => {
    const a = gather(s.sqrtAlphasCumprod, t, x0.rank);
    const b = gather(s.sqrtOneMinusAlphasCumprod, t, x0.rank);
    return tf.add(tf.mul(a, x0), tf.mul(b, noise));
  });
}

/** v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0 (Salimans & Ho 2022, §4; diffusers `get_velocity`). */
export function velocity(s: NoiseSchedule, x0: tf.Tensor, noise: tf.Tensor, t: Timesteps): tf.Tensor {
  checkPair(x0, noise);
  checkTimesteps(s, t, x0.shape[0]);
  return tf.tidy(() => {
    const a = gather(s.sqrtAlphasCumprod, t, x0.rank);
    const b = gather(s.sqrtOneMinusAlphasCumprod, t, x0.rank);
    return tf.sub(tf.mul(a, noise), tf.mul(b, x0));
  });
}

/** What the network learns to predict for each prediction type: ε, v, or x_0 itself. */
export function trainingTarget(
  predictionType: PredictionType,
  s: NoiseSchedule,
  x0: tf.Tensor,
  noise: tf.Tensor,
  t: Timesteps,
): tf.Tensor {
  switch (predictionType) {
    case "epsilon":
      checkPair(x0, noise);
      return tf.clone(noise);
    case "v_prediction":
      return velocity(s, x0, noise, t);
    case "sample":
      checkPair(x0, noise);
      return tf.clone(x0);
    default:
      throw new Error(`unknown prediction type "${predictionType}": use one of ${PREDICTION_TYPES.join(", ")}`);
  }
}

/**
 * Recovers (x̂_0, ε̂) from a model output, for any prediction type (DDIM eq. 12 rearranged;
 * Salimans & Ho eq. for v). Finite at ᾱ_t = 0 for v and sample prediction; for epsilon prediction
 * x̂_0 = (x_t − sqrt(1 − ᾱ_t) ε̂)/sqrt(ᾱ_t) divides by zero there, so it returns x̂_0 = 0 (the
 * mean of the data prior under unit-variance noise) when ᾱ_t = 0: the model's ε̂ carries no
 * information about x_0 at pure noise.
 */
export function predictX0AndEps(
  predictionType: PredictionType,
  s: NoiseSchedule,
  xt: tf.Tensor,
  modelOutput: tf.Tensor,
  t: Timesteps,
): { x0: tf.Tensor; eps: tf.Tensor } {
  checkTimesteps(s, t, xt.shape[0]);
  return tf.tidy(() => {
    const a = gather(s.sqrtAlphasCumprod, t, xt.rank);
    const b = gather(s.sqrtOneMinusAlphasCumprod, t, xt.rank);
    if (predictionType === "v_prediction") {
      // x0 = a x_t − b v ; ε = b x_t + a v   (a² + b² = 1)
      return { x0: tf.sub(tf.mul(a, xt), tf.mul(b, modelOutput)), eps: tf.add(tf.mul(b, xt), tf.mul(a, modelOutput)) };
    }
    if (predictionType === "sample") {
      // ε = (x_t − a x0)/b ; b > 0 for every t ≥ 1 since ᾱ_1 < 1
      return { x0: tf.clone(modelOutput), eps: tf.div(tf.sub(xt, tf.mul(a, modelOutput)), b) };
    }
    if (predictionType === "epsilon") {
      const safeA = tf.where(tf.greater(a, 0), a, tf.onesLike(a));
      const x0 = tf.where(
        tf.broadcastTo(tf.greater(a, 0), xt.shape),
        tf.div(tf.sub(xt, tf.mul(b, modelOutput)), safeA),
        tf.zerosLike(xt),
      );
      return { x0, eps: tf.clone(modelOutput) };
    }
    throw new Error(`unknown prediction type "${predictionType}": use one of ${PREDICTION_TYPES.join(", ")}`);
  });
}
