/**
 * Samplers: DDPM and DDIM over any timestep spacing, classifier-free guidance and guidance rescale,
 * for ε-, v- and x₀-prediction, finite at ᾱ_t = 0 (zero terminal SNR).
 *
 * Timesteps are 0-based indices into the schedule (index T − 1 is t = T).
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NoiseSchedule } from "../schedules";
import { PredictionType, predictX0AndEps } from "./forward";
import { randomNormal, Seed } from "../random";

export const TIMESTEP_SPACINGS = ["leading", "linspace", "trailing"] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];
export const SCHEDULERS = ["ddpm", "ddim"] as const;
export type SchedulerKind = (typeof SCHEDULERS)[number];

/**
 * The inference timesteps, descending (Lin et al. 2023, Table 2; diffusers `set_timesteps`):
 * - linspace: round(linspace(0, T − 1, n)), reversed
 * - leading: k · ⌊T/n⌋ + offset for k = n − 1 … 0 (Stable Diffusion uses offset 1)
 * - trailing: round(T − k · T/n) − 1 for k = 0 … n − 1: always starts at t = T, which zero
 *   terminal SNR needs (the only step where the model sees pure noise).
 */
export function inferenceTimesteps(T: number, n: number, spacing: TimestepSpacing, stepsOffset = 0): number[] {
  if (!Number.isInteger(n) || n < 1 || n > T) throw new Error(`steps must be an integer in 1..${T} (got ${n})`);
  const out: number[] = [];
  switch (spacing) {
    case "linspace":
      for (let k = n - 1; k >= 0; k--) out.push(Math.round(n === 1 ? 0 : (k * (T - 1)) / (n - 1)));
      break;
    case "leading": {
      const ratio = Math.floor(T / n);
      for (let k = n - 1; k >= 0; k--) out.push(Math.min(k * ratio + stepsOffset, T - 1));
      break;
    }
    case "trailing": {
      const ratio = T / n;
      for (let k = 0; k < n; k++) out.push(Math.round(T - k * ratio) - 1);
      break;
    }
    default:
      throw new Error(`unknown timestep spacing "${spacing}": use one of ${TIMESTEP_SPACINGS.join(", ")}`);
  }
  return out;
}

/** ᾱ at an index, with ᾱ = 1 before the first step (diffusers' `set_alpha_to_one`). */
const abarAt = (s: NoiseSchedule, t: number) => (t >= 0 ? s.alphasCumprod[t] : 1);

export interface StepResult {
  prevSample: tf.Tensor;
  predOriginalSample: tf.Tensor;
}

/**
 * One DDIM step from index t to index prev (Song et al. 2021, eq. 12; prev is the next timestep of
 * the spacing, or −1 after the last, never t − T/n):
 *   1. (x̂₀, ε̂) from the model output, for its prediction type
 *   2. σ_t = η · sqrt((1 − ᾱ_prev)/(1 − ᾱ_t)) · sqrt(1 − ᾱ_t/ᾱ_prev)            (eq. 16)
 *   3. x_prev = sqrt(ᾱ_prev) x̂₀ + sqrt(1 − ᾱ_prev − σ_t²) ε̂ + σ_t z
 */
export function ddimStep(
  s: NoiseSchedule,
  modelOutput: tf.Tensor,
  t: number,
  prev: number,
  xt: tf.Tensor,
  opts: { predictionType: PredictionType; eta?: number; noise?: tf.Tensor; clipSample?: number },
): StepResult {
  return tf.tidy(() => {
    const a = abarAt(s, t);
    const ap = abarAt(s, prev);
    // 1. predicted x0 and ε (DDIM eq. 12)
    let { x0, eps } = predictX0AndEps(opts.predictionType, s, xt, modelOutput, new Array(xt.shape[0]).fill(t));
    if (opts.clipSample !== undefined) {
      x0 = tf.clipByValue(x0, -opts.clipSample, opts.clipSample);
      eps = recomputeEps(s, xt, x0, t, eps);
    }
    // 2. σ_t (eq. 16); at ᾱ_t = 0 the variance is 1 − ᾱ_prev, finite
    const eta = opts.eta ?? 0;
    const variance = a < 1 ? ((1 - ap) / (1 - a)) * (1 - a / ap) : 0;
    const std = eta * Math.sqrt(Math.max(variance, 0));
    // 3. x_{prev} = sqrt(ᾱ_prev) x0 + "direction pointing to x_t" + noise
    let prevSample = tf.add(tf.mul(x0, Math.sqrt(ap)), tf.mul(eps, Math.sqrt(Math.max(1 - ap - std * std, 0))));
    if (std > 0) {
      if (!opts.noise) throw new Error("ddimStep: eta > 0 needs noise");
      prevSample = tf.add(prevSample, tf.mul(opts.noise, std));
    }
    return { prevSample, predOriginalSample: x0 };
  });
}

/** ε consistent with a (clipped) x̂₀: (x_t − sqrt(ᾱ_t) x̂₀)/sqrt(1 − ᾱ_t); b > 0 for every t. */
function recomputeEps(s: NoiseSchedule, xt: tf.Tensor, x0: tf.Tensor, t: number, fallback: tf.Tensor): tf.Tensor {
  const b = s.sqrtOneMinusAlphasCumprod[t];
  return b > 0 ? tf.div(tf.sub(xt, tf.mul(x0, s.sqrtAlphasCumprod[t])), b) : fallback;
}

/**
 * One DDPM ancestral step from index t to index prev (Ho et al. 2020, eqs. 6–7, generalised to any
 * spacing as in diffusers: β'_t = 1 − ᾱ_t/ᾱ_prev):
 *   1. x̂₀ from the model output
 *   2. posterior mean μ = sqrt(ᾱ_prev) β'_t/(1 − ᾱ_t) · x̂₀ + sqrt(1 − β'_t) (1 − ᾱ_prev)/(1 − ᾱ_t) · x_t   (eq. 7)
 *   3. posterior variance β̃ = (1 − ᾱ_prev)/(1 − ᾱ_t) · β'_t ("fixed_small"), noise added except at the last step
 * At ᾱ_t = 0 (zero terminal SNR): β'_t = 1, so μ = sqrt(ᾱ_prev) x̂₀ and β̃ = 1 − ᾱ_prev: finite.
 */
export function ddpmStep(
  s: NoiseSchedule,
  modelOutput: tf.Tensor,
  t: number,
  prev: number,
  xt: tf.Tensor,
  opts: { predictionType: PredictionType; noise?: tf.Tensor; clipSample?: number },
): StepResult {
  return tf.tidy(() => {
    const a = abarAt(s, t);
    const ap = abarAt(s, prev);
    const betaT = 1 - a / ap;
    // 1. predicted x0
    let { x0 } = predictX0AndEps(opts.predictionType, s, xt, modelOutput, new Array(xt.shape[0]).fill(t));
    if (opts.clipSample !== undefined) x0 = tf.clipByValue(x0, -opts.clipSample, opts.clipSample);
    // 2. posterior mean (eq. 7)
    const c0 = (Math.sqrt(ap) * betaT) / (1 - a);
    const ct = (Math.sqrt(1 - betaT) * (1 - ap)) / (1 - a);
    let prevSample = tf.add(tf.mul(x0, c0), tf.mul(xt, ct));
    // 3. posterior variance, clamped as in diffusers
    if (prev >= 0) {
      const variance = Math.max(((1 - ap) / (1 - a)) * betaT, 1e-20);
      if (!opts.noise) throw new Error("ddpmStep: needs noise before the last step");
      prevSample = tf.add(prevSample, tf.mul(opts.noise, Math.sqrt(variance)));
    }
    return { prevSample, predOriginalSample: x0 };
  });
}

/**
 * Classifier-free guidance (Ho & Salimans 2022): out = uncond + w · (cond − uncond), then guidance
 * rescale φ (Lin et al. 2023, §3.4, eqs. 15–16; diffusers `rescale_noise_cfg`): scale the guided output
 * to the per-sample std of the conditional one and mix φ of it back, which stops over-exposure at
 * high w under zero terminal SNR.
 */
export function guide(uncond: tf.Tensor, cond: tf.Tensor, scale: number, rescale = 0): tf.Tensor {
  return tf.tidy(() => {
    const cfg = tf.add(uncond, tf.mul(tf.sub(cond, uncond), scale));
    if (!rescale) return cfg;
    const axes = cond.shape.slice(1).map((_, i) => i + 1);
    const std = (x: tf.Tensor) => tf.sqrt(tf.moments(x, axes, true).variance);
    const rescaled = tf.mul(cfg, tf.div(std(cond), std(cfg)));
    return tf.add(tf.mul(rescaled, rescale), tf.mul(cfg, 1 - rescale));
  });
}

/** A denoiser: the model output for x_t at timestep index t (guidance already applied if any). */
export type Denoiser = (xt: tf.Tensor, t: number) => tf.Tensor | Promise<tf.Tensor>;

export interface SampleOptions {
  schedule: NoiseSchedule;
  model: Denoiser;
  /** shape of x_T, e.g. [B, h, w, 4] */
  shape: number[];
  scheduler?: SchedulerKind;
  steps?: number;
  spacing?: TimestepSpacing;
  /** for leading spacing (Stable Diffusion: 1) */
  stepsOffset?: number;
  predictionType?: PredictionType;
  /** DDIM only: 0 deterministic, 1 ancestral (DDPM-like) */
  eta?: number;
  clipSample?: number;
  seed: Seed;
  /** called after each step with the steps done (1 … n), their number n, and the timestep index t just denoised */
  onStep?: (i: number, n: number, t: number) => void;
}

/**
 * Runs a sampler from x_T ~ N(0, I) down to x₀. Noise for every step comes from `seed`, so the same
 * seed, model and backend give the same bytes.
 */
export async function sample(o: SampleOptions): Promise<tf.Tensor> {
  const scheduler = o.scheduler ?? "ddim";
  if (!SCHEDULERS.includes(scheduler))
    throw new Error(`unknown scheduler "${scheduler}": use one of ${SCHEDULERS.join(", ")}`);
  const ts = inferenceTimesteps(o.schedule.T, o.steps ?? 50, o.spacing ?? "trailing", o.stepsOffset ?? 0);
  const predictionType = o.predictionType ?? "epsilon";
  let x = randomNormal(o.shape, o.seed, "x_T");
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i];
    const prev = i + 1 < ts.length ? ts[i + 1] : -1;
    const out = await o.model(x, t);
    if (out.shape.join() !== x.shape.join()) {
      out.dispose();
      x.dispose();
      throw new Error(`model output has shape [${out.shape}] but x_t has [${x.shape}]`);
    }
    const needNoise = scheduler === "ddpm" ? prev >= 0 : (o.eta ?? 0) > 0;
    const noise = needNoise ? randomNormal(o.shape, o.seed, "step", i) : undefined;
    const step =
      scheduler === "ddpm"
        ? ddpmStep(o.schedule, out, t, prev, x, { predictionType, noise, clipSample: o.clipSample })
        : ddimStep(o.schedule, out, t, prev, x, { predictionType, eta: o.eta, noise, clipSample: o.clipSample });
    tf.dispose([out, noise, x, step.predOriginalSample]);
    x = step.prevSample;
    o.onStep?.(i + 1, ts.length, t);
  }
  return x;
}

/** A denoiser with classifier-free guidance (and rescale φ) built from an unconditional and a conditional one. */
export function guidedDenoiser(uncond: Denoiser, cond: Denoiser, scale: number, rescale = 0): Denoiser {
  return async (xt, t) => {
    const u = await uncond(xt, t);
    const c = await cond(xt, t);
    const g = guide(u, c, scale, rescale);
    tf.dispose([u, c]);
    return g;
  };
}
