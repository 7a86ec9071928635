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
