/**
 * One DreamBooth training step taken apart, for notebook 03: the same computation as the training
 * task (lib/dreambooth/task.ts), with every intermediate returned instead of only the gradients.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { StableDiffusion } from "../pipeline/stable-diffusion";
import { encodePrompts } from "../pipeline/stable-diffusion";
import { vaeDecode, vaeEncode } from "../models/vae";
import { unetForward } from "../models/unet";
import { addNoise, PredictionType, predictX0AndEps, trainingTarget } from "../diffusion/forward";
import type { NoiseSchedule } from "../schedules";
import { randomNormal, Seed } from "../random";

export interface StepBreakdown {
  /** timestep index used (0-based; t = index + 1) */
  t: number;
  /** sqrt(ᾱ_t) and sqrt(1 − ᾱ_t) at that t */
  signal: number;
  noise: number;
  instanceLoss: number;
  priorLoss: number;
  /** instance + λ · prior */
  totalLoss: number;
  /** global norm of the U-Net's gradient of the total loss (the only part DreamBooth updates) */
  unetGradNorm: number;
  /** images in [−1, 1], [2, H, W, 3]: row 0 the instance example, row 1 the class example */
  clean: tf.Tensor4D;
  noisy: tf.Tensor4D;
  predicted: tf.Tensor4D;
}

/**
 * instance, klass: one image each, [1, H, W, 3] in [−1, 1]. The same t and ε for both examples, as
 * in a batch of two. Dispose the returned tensors.
 */
export function dreamboothStep(
  sd: StableDiffusion,
  instance: tf.Tensor4D,
  klass: tf.Tensor4D,
  o: { schedule: NoiseSchedule; predictionType: PredictionType; t: number; priorWeight: number; instancePrompt: string; classPrompt: string; seed: Seed },
): StepBreakdown {
  const vars = [...sd.unet.values()];
  const out = tf.tidy(() => {
    // 1. latents of both images (the mean: a deterministic picture), scaled for the U-Net
    const x = tf.concat([instance, klass], 0) as tf.Tensor4D;
    const z0 = tf.mul(vaeEncode(sd.vae, sd.configs.vae, x).mean, sd.configs.vae.scaling_factor) as tf.Tensor4D;
    // 2. the frozen text encoder's states for the two prompts
    const states = encodePrompts(sd, [o.instancePrompt, o.classPrompt]);
    // 3. noise at timestep t (the paper's Eq. 1)
    const eps = randomNormal(z0.shape, o.seed, "explain") as tf.Tensor4D;
    const ts = [o.t, o.t];
    const xt = addNoise(o.schedule, z0, eps, ts) as tf.Tensor4D;
    const target = trainingTarget(o.predictionType, o.schedule, z0, eps, ts);
    // 4. the two losses and their gradient, U-Net parameters only
    const perExample = (pred: tf.Tensor) => tf.mean(tf.squaredDifference(pred, target), [1, 2, 3]);
    const { value, grads } = tf.variableGrads(() => {
      const l = perExample(unetForward(sd.unet, sd.configs.unet, xt, tf.tensor1d(ts, "int32"), states));
      const [li, lp] = tf.unstack(l);
      return tf.add(li, tf.mul(lp, o.priorWeight)) as tf.Scalar;
    }, vars);
    const pred = unetForward(sd.unet, sd.configs.unet, xt, tf.tensor1d(ts, "int32"), states);
    const losses = perExample(pred);
    const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
    // 5. pictures: clean, noisy and the model's x̂₀, decoded
    const { x0: x0hat } = predictX0AndEps(o.predictionType, o.schedule, xt, pred, ts);
    const dec = (z: tf.Tensor) => tf.clipByValue(vaeDecode(sd.vae, sd.configs.vae, tf.div(z, sd.configs.vae.scaling_factor) as tf.Tensor4D), -1, 1) as tf.Tensor4D;
    return { value, losses, norm, clean: dec(z0), noisy: dec(xt), predicted: dec(x0hat) };
  });
  const [li, lp] = out.losses.dataSync();
  const r: StepBreakdown = {
    t: o.t,
    signal: o.schedule.sqrtAlphasCumprod[o.t],
    noise: o.schedule.sqrtOneMinusAlphasCumprod[o.t],
    instanceLoss: li,
    priorLoss: lp,
    totalLoss: out.value.dataSync()[0],
    unetGradNorm: out.norm.dataSync()[0],
    clean: out.clean,
    noisy: out.noisy,
    predicted: out.predicted,
  };
  tf.dispose([out.value, out.losses, out.norm]);
  return r;
}
