import { test } from "node:test";
import assert from "node:assert/strict";
import { mixtureModeStats, pointCloudStats, sampleMixture } from "./toy";

const mixture = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [-1.5, -1],
    [1.5, -0.5],
    [0, 1.5],
  ],
  stds: [0.25, 0.35, 0.2],
};

test("mode stats of the mixture's own samples give back its weights and stds", () => {
  const n = 20000;
  const stats = mixtureModeStats(mixture, sampleMixture(mixture, n, 3));
  assert.equal(
    stats.reduce((a, s) => a + s.count, 0),
    n,
  );
  stats.forEach((s, k) => {
    // binomial se of a share: sqrt(0.25/20000) ≤ 0.0036; the blobs are far apart, so few are misassigned
    assert.ok(Math.abs(s.share - mixture.weights[k]) < 0.015, `share ${k}: ${s.share}`);
    assert.ok(Math.abs(s.std - mixture.stds[k]) < 0.01, `std ${k}: ${s.std}`);
    s.mean.forEach((v, j) => assert.ok(Math.abs(v - mixture.means[k][j]) < 0.02, `mean ${k}/${j}: ${v}`));
  });
  // a point on a component's mean belongs to it
  assert.deepEqual(
    mixtureModeStats(mixture, [0, 1.5, 1.5, -0.5]).map((s) => s.count),
    [0, 1, 1],
  );
  assert.throws(() => mixtureModeStats(mixture, [1, 2, 3]), /3 values are not points of dimension 2/);
});

test("point-cloud stats: a stray point moves the std, not the robust std", () => {
  const s = pointCloudStats([0, 0, 1, 1, 2, 2, 100, 100], 2);
  assert.deepEqual(s.mean, [25.75, 25.75]);
  assert.deepEqual(s.median, [1.5, 1.5]);
  // |x − 1.5| over both coordinates: 1.5, 0.5, 0.5, 98.5 twice; median 1.0
  assert.ok(Math.abs(s.robustStd - 1.4826) < 1e-12);
  assert.equal(s.outliers, 1);
  // the other three: 0, 1, 2 on each coordinate, sample std 1
  assert.ok(Math.abs(s.inlierStd - 1) < 1e-12);
  assert.ok(s.std > 40);
  assert.throws(() => pointCloudStats([1, 2], 2), /not 2 or more points/);
});
