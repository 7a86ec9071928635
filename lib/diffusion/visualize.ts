/** Pictures of the forward process: x_t of one image at several t, one row per schedule. */
import * as tf from "@tensorflow/tfjs-core";
import type { NoiseSchedule } from "../schedules";
import { addNoise } from "./forward";
import { randomNormal, Seed } from "../random";
import { GridImage, imageGrid, toBytes } from "../plot/render";

export interface ImageHWC {
  /** values in [-1, 1], row-major HWC */
  data: Float32Array;
  height: number;
  width: number;
  channels: 1 | 3;
}

/**
 * x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε for each schedule (rows) and timestep (columns), with the
 * same ε for every cell so that only the schedule differs. `ts` are 1-based timesteps as in the paper.
 */
export async function forwardProcessGrid(
  image: ImageHWC,
  rows: { label: string; schedule: NoiseSchedule }[],
  ts: number[],
  seed: Seed,
  opts: { scale?: number; title?: string; format?: "png" | "jpeg"; terminalMeanGain?: number } = {},
): Promise<Buffer> {
  const { height: h, width: w, channels: c } = image;
  if (image.data.length !== h * w * c)
    throw new Error(`image data has ${image.data.length} values, expected ${h}×${w}×${c}`);
  const cells: GridImage[][] = [];
  const x0 = tf.tensor(image.data, [1, h, w, c]);
  const x0s = tf.tile(x0, [ts.length, 1, 1, 1]);
  const noise = randomNormal([1, h, w, c], seed, "forward-grid");
  const noises = tf.tile(noise, [ts.length, 1, 1, 1]);
  try {
    for (const r of rows) {
      for (const t of ts)
        if (!(t >= 1 && t <= r.schedule.T)) throw new Error(`timestep ${t} outside 1..${r.schedule.T}`);
      const xt = addNoise(
        r.schedule,
        x0s,
        noises,
        ts.map((t) => t - 1),
      );
      const data = await xt.data();
      xt.dispose();
      const row: GridImage[] = ts.map((_, j) => ({
        pixels: toBytes(data.subarray(j * h * w * c, (j + 1) * h * w * c)),
        width: w,
        height: h,
        channels: c,
      }));
      if (opts.terminalMeanGain) row.push(await terminalMean(r.schedule, x0, opts.terminalMeanGain));
      cells.push(row);
    }
  } finally {
    tf.dispose([x0, x0s, noise, noises]);
  }
  const colLabels = ts.map((t) => `t = ${t}`);
  if (opts.terminalMeanGain) colLabels.push(`E[x_T]×${opts.terminalMeanGain}`);
  return imageGrid(cells, {
    rowLabels: rows.map((r) => r.label),
    colLabels,
    scale: opts.scale ?? 2,
    title: opts.title,
    format: opts.format,
  });
}

/**
 * The part of x_T that the noise does not hide, E[x_T | x_0] = sqrt(ᾱ_T) · x_0, magnified by `gain`
 * (grey where nothing is left): what a model trained on this schedule can still read at t = T.
 */
async function terminalMean(s: NoiseSchedule, x0: tf.Tensor, gain: number): Promise<GridImage> {
  const [, h, w, c] = x0.shape;
  const out = tf.tidy(() => tf.mul(x0, s.sqrtAlphasCumprod[s.T - 1] * gain));
  const data = await out.data();
  out.dispose();
  return { pixels: toBytes(data), width: w, height: h, channels: c as 1 | 3 };
}

export interface TerminalLeak {
  label: string;
  /** sqrt(ᾱ_T): the share of x_0 left in x_T */
  terminalSignal: number;
  /** mean of x_T for an all-bright image (x_0 = +1), averaged over its pixels (and the draws) */
  meanBright: number;
  /** mean of x_T for an all-dark image (x_0 = −1) */
  meanDark: number;
  /**
   * (meanBright − meanDark) / 2 in units of its standard error from the noise: how detectable the
   * leak is in one image; averaged over the draws
   */
  zScore: number;
  /** its standard deviation over the draws (NaN for one draw): about 1, the noise's own scatter */
  zScoreSd: number;
  /** what zScore is on average: sqrt(ᾱ_T) / se, se = sqrt(1 − ᾱ_T) / sqrt(2n) for n = size² · 3 values */
  expectedZ: number;
  draws: number;
}

/**
 * The paper's point in one number per schedule: without zero terminal SNR, x_T still carries the
 * image's mean brightness (sqrt(ᾱ_T) · mean(x_0)), so a model trained on such x_T never learns to
 * start from pure noise, and sampling from N(0, I) yields images of medium brightness only.
 * `draws` independent noise draws per image (one z-score each) show how much one draw scatters.
 */
export function terminalBrightnessLeak(
  rows: { label: string; schedule: NoiseSchedule }[],
  size: number,
  seed: Seed,
  draws = 1,
): TerminalLeak[] {
  if (!Number.isInteger(draws) || draws < 1) throw new Error(`draws must be a positive integer (got ${draws})`);
  return rows.map((r) => {
    const T = r.schedule.T;
    const [bright, dark] = [1, -1].map((v) =>
      tf.tidy(() => {
        const x0 = tf.fill([draws, size, size, 3], v);
        const eps = randomNormal([draws, size, size, 3], seed, "leak", r.label, v);
        const xT = addNoise(r.schedule, x0, eps, new Array(draws).fill(T - 1));
        return tf.mean(xT, [1, 2, 3]).dataSync() as Float32Array;
      }),
    );
    // each mean has noise sd sqrt(1 − ᾱ_T)/sqrt(n); half the difference of two independent ones, that over √2
    const se = r.schedule.sqrtOneMinusAlphasCumprod[T - 1] / Math.sqrt(size * size * 3) / Math.SQRT2;
    const z = Array.from(bright, (b, i) => (b - dark[i]) / 2 / se);
    const mean = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0) / a.length;
    const zScore = mean(z);
    const zScoreSd = draws > 1 ? Math.sqrt(z.reduce((a, v) => a + (v - zScore) ** 2, 0) / (draws - 1)) : NaN;
    const terminalSignal = r.schedule.sqrtAlphasCumprod[T - 1];
    return {
      label: r.label,
      terminalSignal,
      meanBright: mean(bright),
      meanDark: mean(dark),
      zScore,
      zScoreSd,
      expectedZ: terminalSignal / se,
      draws,
    };
  });
}

/**
 * Image i of a batch [n, H, W, C] in [−1, 1] as a grid tile (C = 3), and its channels as grey tiles:
 * `channelTiles` draws each channel of a latent [n, h, w, c] in grey, value −range black, +range white
 * (the same scale for every channel and every latent, so z_0 and z_t can be compared).
 */
export function imageTile(data: ArrayLike<number>, shape: readonly number[], i: number): GridImage {
  const [n, h, w, c] = shape;
  if (c !== 3 || !(i >= 0 && i < n)) {
    throw new Error(`imageTile: image ${i} of a batch of shape [${shape}] (RGB, index < ${n})`);
  }
  const per = h * w * 3;
  const pixels = toBytes(Array.prototype.slice.call(data, i * per, (i + 1) * per));
  return { pixels, width: w, height: h, channels: 3 };
}

/**
 * One grey tile per channel of latent i of a batch [n, h, w, c] (see `imageTile`), each pixel
 * repeated `upscale` times in both directions so a latent can sit in a grid beside the image it encodes.
 */
export function channelTiles(
  data: ArrayLike<number>,
  shape: readonly number[],
  i: number,
  range = 3,
  upscale = 1,
): GridImage[] {
  const [n, h, w, c] = shape;
  if (!(i >= 0 && i < n) || !(range > 0) || !(Number.isInteger(upscale) && upscale >= 1)) {
    throw new Error(
      `channelTiles: latent ${i} of a batch of ${n}, range > 0, whole upscale ≥ 1 (got ${range}, ${upscale})`,
    );
  }
  const [H, W] = [h * upscale, w * upscale];
  return Array.from({ length: c }, (_, ch) => {
    const v = new Float32Array(H * W);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = Math.floor(y / upscale) * w + Math.floor(x / upscale);
        v[y * W + x] = data[(i * h * w + p) * c + ch] / range;
      }
    }
    return { pixels: toBytes(v), width: W, height: H, channels: 1 as const };
  });
}
