/**
 * Summary statistics with 95 % confidence intervals, in float64:
 * - means: Student's t interval x̄ ± t_{0.975, n−1} · s/√n (Student 1908), t from the inverse of the
 *   t CDF through the regularised incomplete beta function (Numerical Recipes 3rd ed., §6.4 and the
 *   continued fraction of §6.4, `betacf`);
 * - any other statistic: the percentile bootstrap (Efron & Tibshirani 1993, ch. 13) with a seeded RNG.
 */
import { rng } from "../random";

export interface Estimate {
  mean: number;
  /** 95 % confidence interval [lo, hi]; [mean, mean] when n = 1 (no spread to estimate) */
  ci95: [number, number];
  n: number;
  /** how the interval was computed */
  method: "t" | "bootstrap" | "wilson";
}

/** ln Γ(x), Lanczos (g = 7, n = 9) approximation, |error| < 1e-15 for x > 0. */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for the incomplete beta function (Numerical Recipes `betacf`, modified Lentz). */
function betacf(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lbt = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lbt) * betacf(a, b, x)) / a;
  return 1 - (Math.exp(lbt) * betacf(b, a, 1 - x)) / b;
}

/** CDF of Student's t with `df` degrees of freedom: 1 − ½ I_{df/(df+t²)}(df/2, ½) for t ≥ 0. */
export function studentTCdf(t: number, df: number): number {
  const p = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - p : p;
}

/** The quantile t_{p, df} (bisection on the CDF to 1e-12). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`studentTQuantile: p must be in (0, 1) (got ${p})`);
  if (!(df > 0)) throw new RangeError(`studentTQuantile: df must be positive (got ${df})`);
  let lo = -1e6;
  let hi = 1e6;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

function checkSample(xs: ArrayLike<number>, what: string) {
  if (xs.length === 0) throw new Error(`${what}: no values (an empty image set has no statistics)`);
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) throw new Error(`${what}: value ${i} is ${xs[i]}`);
}

/** Mean with a Student-t 95 % interval. */
export function meanCI(xs: ArrayLike<number>): Estimate {
  checkSample(xs, "meanCI");
  const n = xs.length;
  const m = mean(xs);
  if (n === 1) return { mean: m, ci95: [m, m], n, method: "t" };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i] - m) ** 2;
  const half = (studentTQuantile(0.975, n - 1) * Math.sqrt(ss / (n - 1))) / Math.sqrt(n);
  return { mean: m, ci95: [m - half, m + half], n, method: "t" };
}

/**
 * The mean of values that are shares (each in [0, 1]: a yes/no hit, or the share of a prompt's attributes
 * found) with a percentile-bootstrap 95 % interval, which stays inside [0, 1] where a t interval does not.
 */
export function shareMeanCI(xs: ArrayLike<number>, seed: number | string = 0): Estimate {
  checkSample(xs, "shareMeanCI");
  for (let i = 0; i < xs.length; i++)
    if (xs[i] < 0 || xs[i] > 1) throw new Error(`shareMeanCI: value ${i} is ${xs[i]}, not a share in [0, 1]`);
  return bootstrapCI(xs.length, (idx) => idx.reduce((a, i) => a + xs[i], 0) / idx.length, seed);
}

/**
 * A proportion k / n with Wilson's 95 % score interval (Wilson 1927; Agresti & Coull 1998 recommend it
 * over the normal approximation, which leaves [0, 1] and collapses at k = n).
 */
export function wilsonCI(k: number, n: number): Estimate {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 0 || k > n)
    throw new Error(`wilsonCI: need integers 0 ≤ k ≤ n, n ≥ 1 (got k = ${k}, n = ${n})`);
  const z = 1.959963984540054;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return { mean: p, ci95: [Math.max(0, c - h), Math.min(1, c + h)], n, method: "wilson" };
}

/**
 * A statistic of a sample of n items with a percentile-bootstrap 95 % interval: `stat` is called on
 * the full index list and on `resamples` seeded resamples with replacement.
 */
export function bootstrapCI(
  n: number,
  stat: (indices: number[]) => number,
  seed: number | string = 0,
  resamples = 1000,
): Estimate {
  if (!Number.isInteger(n) || n < 1) throw new Error(`bootstrapCI: needs at least one item (got ${n})`);
  const all = Array.from({ length: n }, (_, i) => i);
  const value = stat(all);
  if (n === 1) return { mean: value, ci95: [value, value], n, method: "bootstrap" };
  const r = rng(seed, "bootstrap");
  const vals: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const idx = all.map(() => Math.floor(r() * n));
    const v = stat(idx);
    if (Number.isFinite(v)) vals.push(v);
  }
  vals.sort((a, b) => a - b);
  return { mean: value, ci95: [percentileSorted(vals, 2.5), percentileSorted(vals, 97.5)], n, method: "bootstrap" };
}

/** The q-th percentile (0–100) of sorted values, linear interpolation between ranks (numpy's default, Hyndman & Fan type 7). */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) throw new Error("percentile of an empty sample");
  const h = ((n - 1) * q) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function percentile(xs: ArrayLike<number>, q: number): number {
  return percentileSorted(Float64Array.from(xs as ArrayLike<number>).sort(), q);
}

/** An estimate from clustered data: its bootstrap standard error and the number of clusters. */
export interface ClusteredEstimate extends Estimate {
  /** bootstrap standard error of the statistic */
  se: number;
  /** clusters (training seeds) the items came in */
  clusters: number;
}

/**
 * A statistic of two-level data with a 95 % interval from the hierarchical (two-stage) percentile
 * bootstrap (Davison & Hinkley 1997, sec. 3.8; Field & Welsh 2007): each resample draws the clusters
 * with replacement, then the items within each drawn cluster with replacement, and recomputes `stat`.
 * Here the clusters are training seeds and the items (prompt, sampling seed) cells, so the interval
 * covers both the training run's luck and the sampling noise.
 */
export function hierarchicalBootstrap<T>(
  clusters: T[][],
  stat: (clusters: T[][]) => number,
  seed: number | string = 0,
  resamples = 2000,
): ClusteredEstimate {
  if (clusters.length < 1 || clusters.some((c) => c.length < 1)) {
    throw new Error(
      `hierarchicalBootstrap: needs clusters of at least one item (got sizes ${clusters.map((c) => c.length).join(", ")})`,
    );
  }
  const value = stat(clusters);
  const n = clusters.reduce((a, c) => a + c.length, 0);
  const r = rng(seed, "hierarchical-bootstrap");
  const vals: number[] = [];
  const K = clusters.length;
  for (let b = 0; b < resamples; b++) {
    const draw: T[][] = [];
    for (let k = 0; k < K; k++) {
      const c = clusters[Math.floor(r() * K)];
      draw.push(c.map(() => c[Math.floor(r() * c.length)]));
    }
    const v = stat(draw);
    if (Number.isFinite(v)) vals.push(v);
  }
  vals.sort((a, b) => a - b);
  const m = mean(vals);
  const se = Math.sqrt(vals.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, vals.length - 1));
  return {
    mean: value,
    ci95: [percentileSorted(vals, 2.5), percentileSorted(vals, 97.5)],
    n,
    method: "bootstrap",
    se,
    clusters: K,
  };
}

/** Mean over clusters of the mean within each: the paired effect when the items are differences. */
export function meanOfMeans(clusters: number[][]): number {
  return mean(clusters.map((c) => mean(c)));
}

/** An effect estimated from training seeds: its standard error and the smallest effect the design detects. */
export interface SeedEstimate extends ClusteredEstimate {
  /** smallest true effect found with 80 % power by a two-sided 5 % test at this many seeds and this spread */
  mde: number;
}

/**
 * A mean over training seeds with a Student-t 95 % interval on K − 1 degrees of freedom: `perSeed` holds
 * one value per seed (a seed's paired effect, or its score), `n` the items behind them (for the record).
 * The seeds are the independent units: a seed's noise, timesteps and batch order are shared by every
 * image its model makes, so images of one seed are not independent. (The two-stage bootstrap that
 * resamples seeds, then images, under-covers with three seeds: lib/eval/stats.test.ts measures it.)
 */
export function seedMeanCI(perSeed: number[], n: number): SeedEstimate {
  checkSample(perSeed, "seedMeanCI");
  const K = perSeed.length;
  if (K < 2)
    throw new Error(
      `seedMeanCI: an interval over training seeds needs at least 2 seeds (got ${K}); set more seeds in params.yaml`,
    );
  const m = mean(perSeed);
  let ss = 0;
  for (const x of perSeed) ss += (x - m) ** 2;
  const se = Math.sqrt(ss / (K - 1) / K);
  const t = studentTQuantile(0.975, K - 1);
  return { mean: m, ci95: [m - t * se, m + t * se], n, method: "t", se, clusters: K, mde: minimumDetectable(se, K) };
}

/** (t_{0.975, K−1} + t_{0.80, K−1}) · se: the effect a two-sided 5 % test finds with 80 % power (normal-theory approximation). */
export function minimumDetectable(se: number, K: number): number {
  return (studentTQuantile(0.975, K - 1) + studentTQuantile(0.8, K - 1)) * se;
}

/**
 * A share from yes/no items in K clusters (the hits of K training seeds' models): the pooled share, with a
 * 95 % interval from the seeds' shares on the logit scale (log((h + ½)/(n − h + ½)), the empirical logit,
 * Cox & Snell 1989, sec. 2.1.6), Student t on K − 1 degrees of freedom, mapped back: inside (0, 1), and as
 * wide as the seeds disagree. With one cluster it is Wilson's interval (the items are then the units).
 */
export function clusteredShareCI(hits: number[], totals: number[]): ClusteredEstimate {
  if (hits.length !== totals.length || hits.length < 1)
    throw new Error("clusteredShareCI: one hit count per total, at least one cluster");
  const k = hits.reduce((a, b) => a + b, 0);
  const n = totals.reduce((a, b) => a + b, 0);
  if (n < 1 || totals.some((t) => t < 1)) throw new Error("clusteredShareCI: no items in a cluster");
  const p = k / n;
  const K = hits.length;
  if (K === 1) {
    const w = wilsonInterval(p, n);
    return { mean: p, ci95: w, n, method: "wilson", se: Math.sqrt((p * (1 - p)) / n), clusters: 1 };
  }
  const logits = hits.map((h, i) => Math.log((h + 0.5) / (totals[i] - h + 0.5)));
  const m = mean(logits);
  const se = Math.sqrt(logits.reduce((a, x) => a + (x - m) ** 2, 0) / (K - 1) / K);
  const t = studentTQuantile(0.975, K - 1);
  const inv = (x: number) => 1 / (1 + Math.exp(-x));
  const ci: [number, number] = [Math.min(p, inv(m - t * se)), Math.max(p, inv(m + t * se))];
  // the delta method's standard error of the share, p(1 − p) · se(logit)
  return { mean: p, ci95: ci, n, method: "t", se: p * (1 - p) * se, clusters: K };
}

/** Wilson's 95 % score interval for a share p on a (possibly fractional, effective) sample size n. */
export function wilsonInterval(p: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/** Variance components of an effect measured on K seeds × N cells: between seeds and per cell. */
export interface VarianceComponents {
  /** variance of the true per-seed effect across training seeds */
  betweenSeeds: number;
  /** variance of one cell's value within a seed (the sampling noise) */
  perCell: number;
  cellsPerSeed: number;
}

/**
 * Splits the spread of per-seed effects into the training seeds' own variance and the sampling noise:
 * Var(d_k) = σ²_seed + σ²_cell / N (one-way random effects; the method of moments, Searle et al. 1992,
 * ch. 3), with σ²_cell estimated by the cells' variance within seeds (or by the within-seed variance of
 * the statistic, `withinVar`, for a statistic of the whole set).
 */
export function varianceComponents(perSeed: number[], withinVar: number[], cellsPerSeed: number): VarianceComponents {
  const K = perSeed.length;
  const m = mean(perSeed);
  const total = perSeed.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, K - 1);
  const within = mean(withinVar);
  return { betweenSeeds: Math.max(0, total - within), perCell: within * cellsPerSeed, cellsPerSeed };
}

/**
 * The fewest training seeds (at `cells` cells each; at most `max`) whose smallest detectable effect is at
 * most |effect|, or null when even `max` seeds do not reach it.
 */
export function seedsToResolve(
  v: VarianceComponents,
  effect: number,
  cells = v.cellsPerSeed,
  max = 1000,
): number | null {
  for (let K = 2; K <= max; K++) {
    const se = Math.sqrt(v.betweenSeeds / K + v.perCell / (K * cells));
    if (minimumDetectable(se, K) <= Math.abs(effect)) return K;
  }
  return null;
}
