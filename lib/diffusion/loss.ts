/**
 * The diffusion training loss: noise the clean latents at random timesteps (the paper's Eq. 1),
 * predict, and take a weighted mean squared error against the prediction type's target.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NoiseSchedule } from "../schedules";
import { addNoise, PredictionType, trainingTarget } from "./forward";

export interface DiffusionLossOptions {
  schedule: NoiseSchedule;
  predictionType: PredictionType;
  /** min-SNR-γ weighting (Hang et al. 2023); undefined = plain MSE. Paper-faithful runs leave it off. */
  minSnrGamma?: number;
}

/**
 * Per-sample loss weights for min-SNR-γ (Hang et al. 2023, eq. 8; diffusers train_text_to_image):
 *   ε-prediction: min(SNR, γ)/SNR;  v-prediction: min(SNR, γ)/(SNR + 1);  x₀-prediction: min(SNR, γ).
 * At SNR = 0 (t = T under zero terminal SNR) ε's weight is 0/0; it is set to 1 there, as diffusers
 * does since its PR 4505, so the weights stay finite.
 */
export function minSnrWeights(s: NoiseSchedule, t: ArrayLike<number>, gamma: number, p: PredictionType): Float32Array {
  const w = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) {
    const snr = s.snr[t[i]];
    const m = Math.min(snr, gamma);
    w[i] = p === "epsilon" ? (snr === 0 ? 1 : m / snr) : p === "v_prediction" ? m / (snr + 1) : m;
  }
  return w;
}

/**
 * Σ_i w_i · mean_pixels((model(x_t,i) − target_i)²), with x_t from `addNoise`. `sampleWeights` gives w_i
 * (e.g. 1/B for a plain mean, or the instance/prior split of DreamBooth: 1/n_inst and λ/n_class).
 * Call inside tf.variableGrads; returns a scalar.
 */
export function diffusionLoss(
  model: (xt: tf.Tensor4D, t: tf.Tensor1D) => tf.Tensor4D,
  x0: tf.Tensor4D,
  noise: tf.Tensor4D,
  t: Int32Array,
  sampleWeights: Float32Array,
  o: DiffusionLossOptions,
): tf.Scalar {
  const B = x0.shape[0];
  if (t.length !== B || sampleWeights.length !== B) {
    throw new Error(`diffusionLoss: batch ${B} but ${t.length} timesteps and ${sampleWeights.length} weights`);
  }
  return tf.tidy(() => {
    const xt = addNoise(o.schedule, x0, noise, t) as tf.Tensor4D;
    const target = trainingTarget(o.predictionType, o.schedule, x0, noise, t);
    const pred = model(xt, tf.tensor1d(t, "int32"));
    const perSample = tf.mean(tf.squaredDifference(pred, target), [1, 2, 3]); // [B]
    let w = sampleWeights;
    if (o.minSnrGamma !== undefined) {
      const m = minSnrWeights(o.schedule, t, o.minSnrGamma, o.predictionType);
      w = w.map((x, i) => x * m[i]);
    }
    return tf.sum(tf.mul(perSample, tf.tensor1d(w))) as tf.Scalar;
  });
}

/**
 * Offset noise (Guttenberg 2023): ε + s · n with one n ~ N(0, 1) per sample and channel, shared
 * over pixels: a cheap way to let a model learn mean-brightness shifts, the workaround that zero
 * terminal SNR replaces properly. `perChannel` is [B, C].
 */
export function withOffsetNoise(noise: tf.Tensor4D, perChannel: tf.Tensor2D, strength: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, , , C] = noise.shape;
    return tf.add(noise, tf.mul(tf.reshape(perChannel, [B, 1, 1, C]), strength)) as tf.Tensor4D;
  });
}
