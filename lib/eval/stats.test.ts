import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bootstrapCI,
  clusteredShareCI,
  hierarchicalBootstrap,
  incompleteBeta,
  meanCI,
  meanOfMeans,
  minimumDetectable,
  percentile,
  seedMeanCI,
  seedsToResolve,
  studentTCdf,
  studentTQuantile,
  varianceComponents,
  wilsonCI,
} from "./stats";
import { rng } from "../random";

/** Seeded standard normal draws (Box–Muller). */
function normals(seed: string): () => number {
  const r = rng(seed, "normals");
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** K seeds × N cells of paired differences: true effect δ, seed effects N(0, σ_seed²), cell noise N(0, σ_cell²). */
function clustered(g: () => number, K: number, N: number, delta: number, sSeed: number, sCell: number): number[][] {
  return Array.from({ length: K }, () => {
    const c = delta + sSeed * g();
    return Array.from({ length: N }, () => c + sCell * g());
  });
}

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("Student t quantiles match published tables", () => {
  // t_{0.975, df}: NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.2 (upper critical values)
  close(studentTQuantile(0.975, 1), 12.706, 1e-3, "df 1");
  close(studentTQuantile(0.975, 4), 2.776, 1e-3, "df 4");
  close(studentTQuantile(0.975, 10), 2.228, 1e-3, "df 10");
  close(studentTQuantile(0.975, 30), 2.042, 1e-3, "df 30");
  close(studentTQuantile(0.995, 5), 4.032, 1e-3, "df 5, 0.995");
  // symmetric about 0; df = 1 is the Cauchy distribution: CDF(t) = ½ + atan(t)/π
  close(studentTQuantile(0.025, 4), -studentTQuantile(0.975, 4), 1e-9, "symmetry");
  close(studentTCdf(1, 1), 0.5 + Math.atan(1) / Math.PI, 1e-12, "Cauchy CDF");
  // I_x(1, 1) = x; I_x(a, b) = 1 − I_{1−x}(b, a)
  close(incompleteBeta(0.3, 1, 1), 0.3, 1e-12, "I_x(1,1)");
  close(incompleteBeta(0.2, 2.5, 3.5), 1 - incompleteBeta(0.8, 3.5, 2.5), 1e-12, "reflection");
});

test("meanCI: x̄ ± t·s/√n, by hand", () => {
  // 1..5: mean 3, s = √2.5, half-width = 2.776445 · √2.5/√5 = 1.963243
  const e = meanCI([1, 2, 3, 4, 5]);
  assert.equal(e.mean, 3);
  assert.equal(e.n, 5);
  close(e.ci95[1] - 3, (2.776445105 * Math.sqrt(2.5)) / Math.sqrt(5), 1e-6, "half width");
  assert.deepEqual(meanCI([0.7]).ci95, [0.7, 0.7]);
  assert.throws(() => meanCI([]), /no values/);
  assert.throws(() => meanCI([1, NaN]), /value 1 is NaN/);
});

test("percentile: numpy's linear interpolation", () => {
  // numpy.percentile([1, 2, 3, 4], 95) = 3.85; ([10, 0, 5], 50) = 5
  close(percentile([1, 2, 3, 4], 95), 3.85, 1e-12, "p95");
  close(percentile([10, 0, 5], 50), 5, 0, "median");
  close(percentile([1, 2, 3, 4], 5), 1.15, 1e-12, "p5");
});

test("bootstrap: seeded, covers the statistic, and differs by seed", () => {
  const xs = Array.from({ length: 40 }, (_, i) => Math.sin(i) * 3 + i / 10);
  const stat = (idx: number[]) => idx.reduce((a, i) => a + xs[i], 0) / idx.length;
  const a = bootstrapCI(xs.length, stat, 7);
  const b = bootstrapCI(xs.length, stat, 7);
  const c = bootstrapCI(xs.length, stat, 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.ci95, c.ci95);
  assert.ok(a.ci95[0] < a.mean && a.mean < a.ci95[1]);
  // the bootstrap interval of a mean is close to the t interval for n = 40
  const t = meanCI(xs);
  close(a.ci95[1] - a.ci95[0], t.ci95[1] - t.ci95[0], 0.25 * (t.ci95[1] - t.ci95[0]), "width");
});

test("wilsonCI matches Newcombe (1998, Stat. Med. 17:857, table I, method 3: score interval without continuity correction)", () => {
  const cases: [number, number, number, number][] = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ];
  for (const [k, n, lo, hi] of cases) {
    const e = wilsonCI(k, n);
    assert.equal(e.mean, k / n);
    assert.ok(Math.abs(e.ci95[0] - lo) < 5e-5 && Math.abs(e.ci95[1] - hi) < 5e-5, `${k}/${n}: ${e.ci95}`);
  }
  assert.deepEqual(wilsonCI(20, 20).ci95[1], 1);
  assert.throws(() => wilsonCI(3, 2), /0 ≤ k ≤ n/);
  assert.throws(() => wilsonCI(0, 0), /n ≥ 1/);
});

test("seedMeanCI covers a known paired effect about 95 % of the time, with 3 and with 5 training seeds", () => {
  for (const [K, sSeed, sCell] of [
    [3, 0.05, 0.2],
    [3, 0, 0.2],
    [3, 0.1, 0.05],
    [5, 0.05, 0.2],
  ]) {
    const g = normals(`seed-ci/${K}/${sSeed}/${sCell}`);
    const reps = 600;
    let cover = 0;
    for (let i = 0; i < reps; i++) {
      const e = seedMeanCI(
        clustered(g, K, 48, 0.1, sSeed, sCell).map((c) => c.reduce((a, b) => a + b, 0) / c.length),
        K * 48,
      );
      if (e.ci95[0] <= 0.1 && 0.1 <= e.ci95[1]) cover++;
    }
    // a 95 % interval over 600 trials: coverage within about ±2.2 % (binomial s.e. 0.9 %)
    assert.ok(
      cover / reps > 0.925 && cover / reps < 0.975,
      `K = ${K}, σ_seed = ${sSeed}, σ_cell = ${sCell}: coverage ${cover / reps}`,
    );
  }
});

test("the two-stage bootstrap under-covers with three training seeds (why effects use seedMeanCI)", () => {
  const g = normals("two-stage");
  const reps = 300;
  let cover = 0;
  for (let i = 0; i < reps; i++) {
    const e = hierarchicalBootstrap(clustered(g, 3, 48, 0.1, 0.05, 0.2), meanOfMeans, i, 400);
    if (e.ci95[0] <= 0.1 && 0.1 <= e.ci95[1]) cover++;
  }
  assert.ok(cover / reps < 0.9, `two-stage bootstrap coverage ${cover / reps}`);
});

test("clusteredShareCI covers a known share about 95 % of the time, inside [0, 1], widening as seeds disagree", () => {
  const r = rng("share", "draws");
  const reps = 600;
  let cover = 0;
  for (let i = 0; i < reps; i++) {
    // 3 seeds, each with its own hit rate around 0.8 (±0.1), 32 yes/no items each
    const ps = [0, 1, 2].map(() => 0.7 + 0.2 * r());
    const hits = ps.map((p) =>
      Array.from({ length: 32 }, () => (r() < p ? 1 : 0) as number).reduce((a, b) => a + b, 0),
    );
    const e = clusteredShareCI(hits, [32, 32, 32]);
    assert.ok(e.ci95[0] >= 0 && e.ci95[1] <= 1);
    if (e.ci95[0] <= 0.8 && 0.8 <= e.ci95[1]) cover++;
  }
  assert.ok(cover / reps > 0.925 && cover / reps < 0.985, `coverage ${cover / reps}`);
  const all = clusteredShareCI([32, 32, 32], [32, 32, 32]);
  assert.equal(all.mean, 1);
  assert.ok(all.ci95[1] === 1 && all.ci95[0] < 1 && all.ci95[0] > 0.9, `all hits: ${all.ci95}`);
  // one cluster: Wilson's interval on its items
  assert.deepEqual(clusteredShareCI([7], [10]).ci95, wilsonCI(7, 10).ci95);
  // the same pooled share from uneven seeds is less certain than from even ones
  const even = clusteredShareCI([16, 16, 16], [32, 32, 32]);
  const uneven = clusteredShareCI([4, 16, 28], [32, 32, 32]);
  assert.ok(uneven.ci95[1] - uneven.ci95[0] > even.ci95[1] - even.ci95[0]);
  assert.throws(() => clusteredShareCI([1], [0]), /no items in a cluster/);
});

test("variance components recover known spreads; more seeds are needed for smaller effects", () => {
  const g = normals("components");
  const K = 400;
  const N = 48;
  const data = clustered(g, K, N, 0.1, 0.05, 0.2);
  const perSeed = data.map((c) => c.reduce((a, b) => a + b, 0) / N);
  const within = data.map((c, k) => c.reduce((a, x) => a + (x - perSeed[k]) ** 2, 0) / (N - 1) / N);
  const v = varianceComponents(perSeed, within, N);
  assert.ok(Math.abs(Math.sqrt(v.betweenSeeds) - 0.05) < 0.01, `σ_seed ${Math.sqrt(v.betweenSeeds)}`);
  assert.ok(Math.abs(Math.sqrt(v.perCell) - 0.2) < 0.01, `σ_cell ${Math.sqrt(v.perCell)}`);
  const big = seedsToResolve(v, 0.1)!;
  const small = seedsToResolve(v, 0.03)!;
  assert.ok(big >= 2 && small > big, `${big} seeds for 0.1, ${small} for 0.03`);
  // at the seeds it names, the detectable effect is no larger than asked
  assert.ok(minimumDetectable(Math.sqrt(v.betweenSeeds / small + v.perCell / (small * N)), small) <= 0.03);
  assert.equal(seedsToResolve({ betweenSeeds: 1, perCell: 1, cellsPerSeed: 1 }, 1e-6, 1, 50), null);
  assert.throws(() => seedMeanCI([0.1], 48), /at least 2 seeds/);
});
