/**
 * A noise schedule: its config, its betas, and every per-timestep constant derived once, in float64.
 * Index 0 is t = 1, index T − 1 is t = T (the same indexing as diffusers' `alphas_cumprod`).
 */
import { cosineBetas, linearBetas, scaledLinearBetas, sigmoidBetas, sigmoidChenBetas } from "./betas";
import { enforceZeroTerminalSnr } from "./zero-terminal-snr";

export const SCHEDULE_KINDS = ["linear", "scaled_linear", "cosine", "sigmoid", "sigmoid-chen"] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

export interface ScheduleConfig {
  /** which beta schedule; see SCHEDULE_KINDS */
  kind: ScheduleKind;
  /** number of diffusion steps T (paper: 1000) */
  timesteps?: number;
  /** first β, for linear, scaled_linear and sigmoid (default: the kind's published value) */
  betaStart?: number;
  /** last β, for linear, scaled_linear and sigmoid (default: the kind's published value) */
  betaEnd?: number;
  /** apply the paper's Algorithm 1 (Lin et al. 2023) so that ᾱ_T = 0 */
  zeroTerminalSnr?: boolean;
  /** cosine: offset s (Nichol & Dhariwal: 0.008) */
  cosineS?: number;
  /** sigmoid-chen: start, end and temperature τ of the sigmoid on ᾱ (Chen 2023: −3, 3, 1) */
  sigmoidStart?: number;
  sigmoidEnd?: number;
  tau?: number;
}

/** The config with every default filled in: what a figure or checkpoint records. */
export type ResolvedScheduleConfig = Required<ScheduleConfig>;

/** Published β range for each kind that takes one. */
export const DEFAULT_BETA_RANGE: Record<ScheduleKind, [number, number]> = {
  linear: [1e-4, 0.02], // DDPM §4, the paper's baseline
  scaled_linear: [0.00085, 0.012], // Stable Diffusion v1 config
  cosine: [NaN, NaN], // not used: the cosine schedule is defined on ᾱ
  sigmoid: [1e-4, 0.02], // the paper: same range as its linear baseline
  "sigmoid-chen": [NaN, NaN], // not used: defined on ᾱ
};

export interface NoiseSchedule {
  config: ResolvedScheduleConfig;
  T: number;
  betas: Float64Array;
  /** α_t = 1 − β_t */
  alphas: Float64Array;
  /** ᾱ_t = ∏_{s ≤ t} α_s */
  alphasCumprod: Float64Array;
  /** sqrt(ᾱ_t): how much of x_0 is left in x_t */
  sqrtAlphasCumprod: Float64Array;
  /** sqrt(1 − ᾱ_t): how much noise is in x_t */
  sqrtOneMinusAlphasCumprod: Float64Array;
  /** signal-to-noise ratio ᾱ_t / (1 − ᾱ_t) (Kingma et al. 2021) */
  snr: Float64Array;
  /** log SNR (−Infinity where ᾱ_t = 0) */
  logSnr: Float64Array;
}

export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScheduleError";
  }
}

function isKind(k: string): k is ScheduleKind {
  return (SCHEDULE_KINDS as readonly string[]).includes(k);
}

/** Fill in defaults and check the config; every problem is a ScheduleError naming the field and the fix. */
export function resolveScheduleConfig(config: ScheduleConfig): ResolvedScheduleConfig {
  const kind = config.kind as string;
  if (!isKind(kind)) {
    throw new ScheduleError(`unknown schedule kind "${kind}": use one of ${SCHEDULE_KINDS.join(", ")}`);
  }
  const [defStart, defEnd] = DEFAULT_BETA_RANGE[kind];
  const r: ResolvedScheduleConfig = {
    kind,
    timesteps: config.timesteps ?? 1000,
    betaStart: config.betaStart ?? defStart,
    betaEnd: config.betaEnd ?? defEnd,
    zeroTerminalSnr: config.zeroTerminalSnr ?? false,
    cosineS: config.cosineS ?? 0.008,
    sigmoidStart: config.sigmoidStart ?? -3,
    sigmoidEnd: config.sigmoidEnd ?? 3,
    tau: config.tau ?? 1,
  };
  if (!Number.isInteger(r.timesteps) || r.timesteps < 2) {
    throw new ScheduleError(`timesteps must be an integer ≥ 2 (got ${r.timesteps}); the paper uses 1000`);
  }
  if (kind === "linear" || kind === "scaled_linear" || kind === "sigmoid") {
    for (const [name, v] of [
      ["betaStart", r.betaStart],
      ["betaEnd", r.betaEnd],
    ] as const) {
      if (!(v > 0 && v <= 1)) {
        throw new ScheduleError(`${name} must lie in (0, 1] (got ${v}); ${kind} defaults to ${defStart} … ${defEnd}`);
      }
    }
    if (r.betaEnd < r.betaStart) {
      throw new ScheduleError(`betaEnd (${r.betaEnd}) < betaStart (${r.betaStart}): noise must grow with t; swap them`);
    }
  }
  if (kind === "cosine" && !(r.cosineS > 0)) {
    throw new ScheduleError(`cosineS must be > 0 (got ${r.cosineS}); Nichol & Dhariwal use 0.008`);
  }
  if (kind === "sigmoid-chen") {
    if (!(r.sigmoidEnd > r.sigmoidStart)) {
      throw new ScheduleError(
        `sigmoidEnd (${r.sigmoidEnd}) must exceed sigmoidStart (${r.sigmoidStart}); Chen uses −3 and 3`,
      );
    }
    if (!(r.tau > 0)) throw new ScheduleError(`tau must be > 0 (got ${r.tau}); Chen uses 1`);
  }
  return r;
}

/** The betas of a resolved config (before zero terminal SNR). */
function baseBetas(c: ResolvedScheduleConfig): Float64Array {
  switch (c.kind) {
    case "linear":
      return linearBetas(c.timesteps, c.betaStart, c.betaEnd);
    case "scaled_linear":
      return scaledLinearBetas(c.timesteps, c.betaStart, c.betaEnd);
    case "cosine":
      return cosineBetas(c.timesteps, c.cosineS);
    case "sigmoid":
      return sigmoidBetas(c.timesteps, c.betaStart, c.betaEnd);
    case "sigmoid-chen":
      return sigmoidChenBetas(c.timesteps, c.sigmoidStart, c.sigmoidEnd, c.tau);
  }
}

/** Check a beta array: every β in (0, 1], finite. */
export function validateBetas(betas: Float64Array, what = "betas"): void {
  for (let i = 0; i < betas.length; i++) {
    const b = betas[i];
    if (!(b > 0 && b <= 1)) {
      throw new ScheduleError(`${what}[${i}] (t = ${i + 1}) is ${b}: every β must lie in (0, 1]`);
    }
  }
}

/** Every per-timestep constant of a schedule, from its betas. */
export function deriveSchedule(betas: Float64Array, config: ResolvedScheduleConfig): NoiseSchedule {
  validateBetas(betas);
  const T = betas.length;
  const alphas = new Float64Array(T);
  const alphasCumprod = new Float64Array(T);
  const sqrtAlphasCumprod = new Float64Array(T);
  const sqrtOneMinusAlphasCumprod = new Float64Array(T);
  const snr = new Float64Array(T);
  const logSnr = new Float64Array(T);
  let abar = 1;
  for (let i = 0; i < T; i++) {
    alphas[i] = 1 - betas[i];
    abar *= alphas[i];
    alphasCumprod[i] = abar;
    sqrtAlphasCumprod[i] = Math.sqrt(abar);
    sqrtOneMinusAlphasCumprod[i] = Math.sqrt(1 - abar);
    snr[i] = abar / (1 - abar);
    logSnr[i] = Math.log(abar) - Math.log1p(-abar);
  }
  return { config, T, betas, alphas, alphasCumprod, sqrtAlphasCumprod, sqrtOneMinusAlphasCumprod, snr, logSnr };
}

/** Build a schedule from its config: betas, optional zero terminal SNR, derived arrays. */
export function makeSchedule(config: ScheduleConfig): NoiseSchedule {
  const c = resolveScheduleConfig(config);
  let betas = baseBetas(c);
  validateBetas(betas, `${c.kind} betas`);
  if (c.zeroTerminalSnr) betas = enforceZeroTerminalSnr(betas);
  return deriveSchedule(betas, c);
}

/** A short label, e.g. "sigmoid + ZT-SNR". */
export function scheduleLabel(c: Pick<ScheduleConfig, "kind" | "zeroTerminalSnr">): string {
  return c.zeroTerminalSnr ? `${c.kind} + zero terminal SNR` : c.kind;
}
