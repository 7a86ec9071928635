import { test } from "node:test";
import assert from "node:assert/strict";
import { bootstrapCI, incompleteBeta, meanCI, percentile, studentTCdf, studentTQuantile, wilsonCI } from "./stats";

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

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
  close(e.ci95[1] - 3, 2.776445105 * Math.sqrt(2.5) / Math.sqrt(5), 1e-6, "half width");
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
