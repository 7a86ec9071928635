/**
 * A data distribution whose ideal denoiser is known in closed form, for teaching and for testing
 * samplers: an isotropic Gaussian mixture in d dimensions, p(x₀) = Σ_k π_k N(μ_k, s_k² I).
 * Under x_t = a x₀ + b ε (a = sqrt(ᾱ_t), b = sqrt(1 − ᾱ_t)) each component stays Gaussian,
 * x_t | k ~ N(a μ_k, (a² s_k² + b²) I), so
 *   E[x₀ | x_t] = Σ_k r_k(x_t) · (μ_k + a s_k² / (a² s_k² + b²) · (x_t − a μ_k)),
 * with responsibilities r_k ∝ π_k N(x_t; a μ_k, (a² s_k² + b²) I). A model that outputs this is the
 * best any trained network could do, so what a sampler makes of it is the sampler's own doing.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NoiseSchedule } from "../schedules";
import type { PredictionType } from "./forward";
import type { Denoiser } from "./samplers";
import { rng, Seed } from "../random";

export interface GaussianMixture {
  weights: number[];
  means: number[][];
  stds: number[];
}

/** Draws n samples [n, d] from the mixture (seeded). */
export function sampleMixture(m: GaussianMixture, n: number, seed: Seed): Float32Array {
  const d = m.means[0].length;
  const r = rng(seed, "mixture");
  const out = new Float32Array(n * d);
  const total = m.weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) {
    let u = r() * total;
    let k = 0;
    while (k < m.weights.length - 1 && u >= m.weights[k]) u -= m.weights[k++];
    for (let j = 0; j < d; j++) {
      // Box–Muller
      const g = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
      out[i * d + j] = m.means[k][j] + m.stds[k] * g;
    }
  }
  return out;
}

/** The ideal denoiser of a mixture, as a model output of the given prediction type. x_t is [n, d]. */
export function mixtureDenoiser(m: GaussianMixture, s: NoiseSchedule, p: PredictionType): Denoiser {
  const d = m.means[0].length;
  return (xt, t) =>
    tf.tidy(() => {
      const a = s.sqrtAlphasCumprod[t];
      const b = s.sqrtOneMinusAlphasCumprod[t];
      const x = xt as tf.Tensor2D;
      const logs: tf.Tensor[] = [];
      const posts: tf.Tensor[] = [];
      m.means.forEach((mu, k) => {
        const v = a * a * m.stds[k] ** 2 + b * b;
        const diff = tf.sub(x, tf.mul(tf.tensor1d(mu), a));
        // log π_k − d/2 log v − |x − aμ|² / (2v)
        logs.push(tf.sub(Math.log(m.weights[k]) - (d / 2) * Math.log(v), tf.div(tf.sum(tf.square(diff), 1), 2 * v)));
        posts.push(tf.add(tf.tensor1d(mu), tf.mul(diff, (a * m.stds[k] ** 2) / v)));
      });
      const r = tf.softmax(tf.stack(logs, 1)); // [n, K]
      const x0 = tf.sum(tf.mul(tf.stack(posts, 1), tf.expandDims(r, 2)), 1); // [n, d]
      if (p === "sample") return x0;
      // ε = (x_t − a x̂₀)/b; b > 0 for every t ≥ 1
      const eps = tf.div(tf.sub(x, tf.mul(x0, a)), b);
      return p === "epsilon" ? eps : tf.sub(tf.mul(eps, a), tf.mul(x0, b));
    });
}

export interface ModeStats {
  /** points assigned to this component: the one of highest π_k N(x; μ_k, s_k² I) (the Bayes classifier) */
  count: number;
  share: number;
  /** their mean, and their standard deviation per coordinate (pooled over the d coordinates) */
  mean: number[];
  std: number;
}

/** Which component of the mixture each point [n, d] most likely came from, and each component's share and spread. */
export function mixtureModeStats(m: GaussianMixture, points: ArrayLike<number>): ModeStats[] {
  const d = m.means[0].length;
  const n = points.length / d;
  if (!Number.isInteger(n)) {
    throw new Error(`mixtureModeStats: ${points.length} values are not points of dimension ${d}`);
  }
  const K = m.weights.length;
  const of = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestLog = -Infinity;
    for (let k = 0; k < K; k++) {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += (points[i * d + j] - m.means[k][j]) ** 2;
      const log = Math.log(m.weights[k]) - d * Math.log(m.stds[k]) - sq / (2 * m.stds[k] ** 2);
      if (log > bestLog) [best, bestLog] = [k, log];
    }
    of[i] = best;
  }
  return m.weights.map((_, k) => {
    const idx = Array.from(of.keys()).filter((i) => of[i] === k);
    const sum = (j: number) => idx.reduce((a, i) => a + points[i * d + j], 0);
    const mean = Array.from({ length: d }, (_, j) => sum(j) / (idx.length || 1));
    let ss = 0;
    for (const i of idx) for (let j = 0; j < d; j++) ss += (points[i * d + j] - mean[j]) ** 2;
    const std = idx.length > 1 ? Math.sqrt(ss / ((idx.length - 1) * d)) : NaN;
    return { count: idx.length, share: idx.length / n, mean, std };
  });
}

export interface CloudStats {
  n: number;
  mean: number[];
  /** standard deviation per coordinate, pooled over the coordinates */
  std: number;
  median: number[];
  /** 1.4826 × the median absolute deviation from the median, pooled: a normal cloud's std, unmoved by a few strays */
  robustStd: number;
  /** points with a coordinate more than 4 robust stds from the median */
  outliers: number;
  /** the pooled std of the other points */
  inlierStd: number;
}

const medianOf = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/** Centre and spread of a point cloud [n, d], plainly and robustly (so that a few strays cannot carry a claim). */
export function pointCloudStats(points: ArrayLike<number>, d: number): CloudStats {
  const n = points.length / d;
  if (!Number.isInteger(n) || n < 2) {
    throw new Error(`pointCloudStats: ${points.length} values are not 2 or more points of dimension ${d}`);
  }
  const coord = (j: number, keep: (i: number) => boolean = () => true) =>
    Array.from({ length: n }, (_, i) => i)
      .filter(keep)
      .map((i) => points[i * d + j]);
  const pooledStd = (keep?: (i: number) => boolean) => {
    let ss = 0;
    let count = 0;
    for (let j = 0; j < d; j++) {
      const v = coord(j, keep);
      const mu = v.reduce((a, b) => a + b, 0) / v.length;
      ss += v.reduce((a, x) => a + (x - mu) ** 2, 0);
      count += v.length - 1;
    }
    return Math.sqrt(ss / count);
  };
  const mean = Array.from({ length: d }, (_, j) => coord(j).reduce((a, b) => a + b, 0) / n);
  const median = Array.from({ length: d }, (_, j) => medianOf(coord(j)));
  const deviations = Array.from({ length: d }, (_, j) => coord(j).map((x) => Math.abs(x - median[j]))).flat();
  const robustStd = 1.4826 * medianOf(deviations);
  const isOutlier = (i: number) => median.some((c, j) => Math.abs(points[i * d + j] - c) > 4 * robustStd);
  const outliers = Array.from({ length: n }, (_, i) => i).filter(isOutlier).length;
  return { n, mean, std: pooledStd(), median, robustStd, outliers, inlierStd: pooledStd((i) => !isOutlier(i)) };
}
