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
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
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
 * A proportion k / n with Wilson's 95 % score interval (Wilson 1927; Agresti & Coull 1998 recommend it
 * over the normal approximation, which leaves [0, 1] and collapses at k = n).
 */
export function wilsonCI(k: number, n: number): Estimate {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(k) || k < 0 || k > n) throw new Error(`wilsonCI: need integers 0 ≤ k ≤ n, n ≥ 1 (got k = ${k}, n = ${n})`);
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
export function bootstrapCI(n: number, stat: (indices: number[]) => number, seed: number | string = 0, resamples = 1000): Estimate {
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
