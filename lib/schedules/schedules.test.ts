import { test } from "node:test";
import assert from "node:assert/strict";
import { enforceZeroTerminalSnr, linspace, makeSchedule, SCHEDULE_KINDS, ScheduleError, ScheduleKind } from "./index";

const ALL: ScheduleKind[] = [...SCHEDULE_KINDS];

test("linspace matches numpy: endpoints exact, even steps", () => {
  const x = linspace(1e-4, 0.02, 1000);
  assert.equal(x[0], 1e-4);
  assert.equal(x[999], 0.02);
  assert.ok(Math.abs(x[500] - (1e-4 + (500 * (0.02 - 1e-4)) / 999)) < 1e-16);
});

for (const kind of ALL) {
  for (const zt of [false, true]) {
    test(`${kind}${zt ? " + ZT-SNR" : ""}: ᾱ strictly decreasing, β in (0, 1], arrays consistent`, () => {
      const s = makeSchedule({ kind, zeroTerminalSnr: zt });
      assert.equal(s.T, 1000);
      for (let i = 0; i < s.T; i++) {
        assert.ok(s.betas[i] > 0 && s.betas[i] <= 1, `β[${i}] = ${s.betas[i]}`);
        if (i > 0) assert.ok(s.alphasCumprod[i] < s.alphasCumprod[i - 1], `ᾱ not decreasing at ${i}`);
        assert.ok(Math.abs(s.sqrtAlphasCumprod[i] ** 2 + s.sqrtOneMinusAlphasCumprod[i] ** 2 - 1) < 1e-12);
        assert.equal(s.alphas[i], 1 - s.betas[i]);
      }
    });
  }
}

// Lin et al. 2023, Algorithm 1 and §3.1: after the rescale, ᾱ_T = 0 (so SNR_T = 0 and β_T = 1)
// while sqrt(ᾱ_1) keeps its value.
for (const kind of ALL) {
  test(`zero terminal SNR on ${kind}: ᾱ_T = 0, β_T = 1, SNR_T = 0 exactly, sqrt(ᾱ_1) unchanged`, () => {
    const base = makeSchedule({ kind });
    const zt = makeSchedule({ kind, zeroTerminalSnr: true });
    assert.equal(zt.alphasCumprod[zt.T - 1], 0);
    assert.equal(zt.betas[zt.T - 1], 1);
    assert.equal(zt.snr[zt.T - 1], 0);
    assert.equal(zt.logSnr[zt.T - 1], -Infinity);
    assert.equal(zt.sqrtAlphasCumprod[0], base.sqrtAlphasCumprod[0]);
    assert.ok(base.alphasCumprod[base.T - 1] > 0, "the base schedule itself has non-zero terminal SNR");
  });
}

test("zero terminal SNR keeps sqrt(ᾱ) an affine map of the original (Algorithm 1: shift then scale)", () => {
  const base = makeSchedule({ kind: "linear" });
  const zt = makeSchedule({ kind: "linear", zeroTerminalSnr: true });
  const a0 = base.sqrtAlphasCumprod[0];
  const aT = base.sqrtAlphasCumprod[base.T - 1];
  for (const i of [0, 1, 250, 500, 998, 999]) {
    const expected = ((base.sqrtAlphasCumprod[i] - aT) * a0) / (a0 - aT);
    assert.ok(Math.abs(zt.sqrtAlphasCumprod[i] - expected) < 1e-14, `t=${i + 1}`);
  }
});

test("Stable Diffusion's scaled_linear has sqrt(ᾱ_T) = 0.068265 (Lin et al. 2023, §3.1)", () => {
  const s = makeSchedule({ kind: "scaled_linear" });
  assert.ok(Math.abs(s.sqrtAlphasCumprod[999] - 0.068265) < 5e-7, String(s.sqrtAlphasCumprod[999]));
  // and its SNR_T = 0.068265² / (1 − 0.068265²) ≈ 0.004682 (Lin et al.: "SNR of 0.0047")
  assert.ok(Math.abs(s.snr[999] - 0.004682) < 1e-5, String(s.snr[999]));
});

test("DDPM linear: β from 1e-4 to 0.02 exactly", () => {
  const s = makeSchedule({ kind: "linear" });
  assert.equal(s.betas[0], 1e-4);
  assert.equal(s.betas[999], 0.02);
  // ᾱ_T = ∏(1 − β_i): check against exp(Σ log1p(−β_i)), an independent evaluation of the product
  let logSum = 0;
  for (const b of s.betas) logSum += Math.log1p(-b);
  assert.ok(Math.abs(s.alphasCumprod[999] / Math.exp(logSum) - 1) < 1e-10);
});

test("sigmoid (diffusers / GeoDiff): β symmetric about the midpoint, endpoints sigmoid(±6)", () => {
  const s = makeSchedule({ kind: "sigmoid" });
  const [b0, b1] = [1e-4, 0.02];
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  // sigmoid(x) + sigmoid(−x) = 1 and linspace(−6, 6) is symmetric, so β_i + β_{T+1−i} = β_start + β_end
  for (const i of [0, 10, 300, 499]) assert.ok(Math.abs(s.betas[i] + s.betas[999 - i] - (b0 + b1)) < 1e-15);
  assert.ok(Math.abs(s.betas[0] - (sig(-6) * (b1 - b0) + b0)) < 1e-18);
  assert.ok(Math.abs(s.betas[999] - (sig(6) * (b1 - b0) + b0)) < 1e-18);
});

test("cosine: ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2) (Nichol & Dhariwal eq. 17)", () => {
  const s = makeSchedule({ kind: "cosine" });
  const f = (u: number) => Math.cos(((u + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  for (const t of [1, 100, 500, 900])
    assert.ok(Math.abs(s.alphasCumprod[t - 1] - f(t / 1000) / f(0)) < 1e-12, `t=${t}`);
  assert.equal(s.betas[999], 0.999, "the last β hits the 0.999 cap");
});

test("sigmoid-chen: ᾱ_t follows Chen 2023's sigmoid on ᾱ (start −3, end 3, τ = 1)", () => {
  const s = makeSchedule({ kind: "sigmoid-chen" });
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const g = (u: number) => (-sig(u * 6 - 3) + sig(3)) / (sig(3) - sig(-3));
  for (const t of [1, 250, 500, 750, 999]) assert.ok(Math.abs(s.alphasCumprod[t - 1] - g(t / 1000)) < 1e-12, `t=${t}`);
});

test("validation: T < 2, β outside (0, 1], β_end < β_start, unknown kind", () => {
  assert.throws(() => makeSchedule({ kind: "linear", timesteps: 1 }), /timesteps must be an integer ≥ 2/);
  assert.throws(() => makeSchedule({ kind: "linear", timesteps: 10.5 }), /timesteps/);
  assert.throws(() => makeSchedule({ kind: "linear", betaStart: 0 }), /betaStart must lie in \(0, 1\]/);
  assert.throws(() => makeSchedule({ kind: "sigmoid", betaEnd: 1.5 }), /betaEnd must lie in \(0, 1\]/);
  assert.throws(
    () => makeSchedule({ kind: "linear", betaStart: 0.02, betaEnd: 1e-4 }),
    /betaEnd \(0.0001\) < betaStart \(0.02\).*swap/,
  );
  assert.throws(
    () => makeSchedule({ kind: "quadratic" as ScheduleKind }),
    (e: Error) =>
      e instanceof ScheduleError &&
      /unknown schedule kind "quadratic": use one of linear, scaled_linear, cosine, sigmoid, sigmoid-chen/.test(
        e.message,
      ),
  );
  assert.throws(() => enforceZeroTerminalSnr(new Float64Array([0, 0, 0])), /decrease/);
});

test("short schedules work (T = 2) and zero terminal SNR still ends at exactly 0", () => {
  const s = makeSchedule({ kind: "linear", timesteps: 2, zeroTerminalSnr: true });
  assert.equal(s.alphasCumprod[1], 0);
  assert.equal(s.alphasCumprod[0], 1 - 1e-4);
});
