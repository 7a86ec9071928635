/**
 * Beta schedules: one small pure function each, computed in float64, index 0 is t = 1.
 *
 * Every function returns the T betas of the forward process q(x_t | x_{t-1}) = N(sqrt(1-β_t) x_{t-1}, β_t I).
 */

/** Evenly spaced float64 values from `start` to `end` inclusive (torch.linspace / np.linspace). */
export function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + step * i;
  out[n - 1] = end;
  return out;
}

/** DDPM's linear schedule (Ho et al. 2020, §4: β from 1e-4 to 0.02, T = 1000; the paper's baseline). */
export function linearBetas(T: number, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  return linspace(betaStart, betaEnd, T);
}

/**
 * Stable Diffusion's "scaled_linear": linear in sqrt(β) from sqrt(0.00085) to sqrt(0.012)
 * (CompVis latent-diffusion `make_beta_schedule("linear")`, diffusers `beta_schedule="scaled_linear"`).
 */
export function scaledLinearBetas(T: number, betaStart = 0.00085, betaEnd = 0.012): Float64Array {
  const r = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
  for (let i = 0; i < T; i++) r[i] = r[i] * r[i];
  return r;
}

/**
 * Cosine schedule (Nichol & Dhariwal 2021, eq. 17): ᾱ(t) = cos²(((t/T + s)/(1 + s)) · π/2),
 * β_t = 1 − ᾱ(t)/ᾱ(t−1), capped at `maxBeta` = 0.999 to avoid the singularity at t = T
 * (diffusers `squaredcos_cap_v2`).
 */
export function cosineBetas(T: number, s = 0.008, maxBeta = 0.999): Float64Array {
  const f = (u: number) => Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(T);
  for (let i = 0; i < T; i++) out[i] = Math.min(1 - f((i + 1) / T) / f(i / T), maxBeta);
  return out;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * The sigmoid schedule the paper uses, in the form diffusers' DDPMScheduler implements
 * (`beta_schedule="sigmoid"`, from GeoDiff, Xu et al. 2022):
 * β = sigmoid(linspace(−6, 6, T)) · (β_end − β_start) + β_start.
 */
export function sigmoidBetas(T: number, betaStart = 1e-4, betaEnd = 0.02): Float64Array {
  const x = linspace(-6, 6, T);
  for (let i = 0; i < T; i++) x[i] = sigmoid(x[i]) * (betaEnd - betaStart) + betaStart;
  return x;
}

/**
 * Chen 2023 ("On the importance of noise scheduling for diffusion models", Algorithm 1):
 * a sigmoid on ᾱ rather than on β, ᾱ(t) ∝ −sigmoid((t(end − start) + start)/τ) + sigmoid(end/τ),
 * normalised so ᾱ(0) = 1; β clipped to [0, maxBeta] as in lucidrains' `sigmoid_beta_schedule`.
 */
export function sigmoidChenBetas(T: number, start = -3, end = 3, tau = 1, maxBeta = 0.999): Float64Array {
  const vStart = sigmoid(start / tau);
  const vEnd = sigmoid(end / tau);
  const abar = (u: number) => (-sigmoid((u * (end - start) + start) / tau) + vEnd) / (vEnd - vStart);
  const a0 = abar(0);
  const out = new Float64Array(T);
  let prev = abar(0) / a0;
  for (let i = 0; i < T; i++) {
    const cur = abar((i + 1) / T) / a0;
    out[i] = Math.min(Math.max(1 - cur / prev, 0), maxBeta);
    prev = cur;
  }
  return out;
}
