import { test } from "node:test";
import assert from "node:assert/strict";
import type { Estimate } from "../eval/stats";
import type { RunMetrics } from "./experiment";
import { experimentRow, experimentTable } from "./experiment";
import { compareEstimates, experimentFindings, findingsMarkdown, toneContrast } from "./findings";

const est = (mean: number, half: number): Estimate => ({ mean, ci95: [mean - half, mean + half], n: 8, method: "t" });

function run(identity: number, diversity: number, bright = 0.8, dark = 0.2): RunMetrics {
  const lum = (m: number) => ({ luminanceMean: est(m, 0.05) }) as unknown as RunMetrics["byPrompt"][string];
  return {
    identitySimilarity: est(identity, 0.05),
    identityAgreement: est(identity, 0.05),
    promptFidelity: est(0.5, 0.1),
    classDiversity: est(diversity, 0.05),
    classSubjectSimilarity: est(0.2, 0.05),
    luminanceRange: est(0.4, 0.05),
    luminanceMean: est(0.5, 0.05),
    byPrompt: { bright: lum(bright), dark: lum(dark) },
  };
}

test("compareEstimates: disjoint intervals decide, overlapping ones are not resolved", () => {
  assert.equal(compareEstimates(est(1, 0.1), est(0.5, 0.1)), "higher");
  assert.equal(compareEstimates(est(0.5, 0.1), est(1, 0.1)), "lower");
  assert.equal(compareEstimates(est(0.6, 0.1), est(0.5, 0.1)), "not resolved");
});

test("toneContrast: bright minus dark mean luma, with an interval that contains the difference", () => {
  const t = toneContrast(run(0.5, 0.5, 0.9, 0.1))!;
  assert.ok(Math.abs(t.mean - 0.8) < 1e-12);
  assert.ok(t.ci95[0] < t.mean && t.mean < t.ci95[1]);
  assert.ok(Math.abs(t.ci95[1] - t.ci95[0] - 0.2) < 1e-12, "conservative: the two half-widths add");
  assert.equal(toneContrast({ ...run(0.5, 0.5), byPrompt: {} }), null);
});

test("experimentFindings: the sentences follow the numbers, whichever way they go", () => {
  const rows = {
    base: run(0.1, 0.6),
    linear: run(0.5, 0.6, 0.7, 0.3),
    "linear+ztsnr": run(0.52, 0.6, 0.95, 0.05),
    sigmoid: run(0.3, 0.6),
    "sigmoid+ztsnr": run(0.8, 0.6),
    "sigmoid+ztsnr,no-prior": run(0.9, 0.2),
  };
  const f = experimentFindings(rows);
  const find = (q: string) => f.find((x) => x.question.endsWith(q) && x.question.startsWith("identity fidelity (embedding"))!;
  assert.equal(find("linear vs base").verdict, "higher");
  assert.equal(find("sigmoid vs linear").verdict, "lower");
  assert.equal(find("sigmoid+ztsnr vs linear").verdict, "higher");
  assert.equal(find("linear+ztsnr vs linear").verdict, "not resolved");
  const tone = f.find((x) => x.question.startsWith("tone contrast") && x.a.name === "linear+ztsnr")!;
  assert.equal(tone.verdict, "higher");
  const div = f.find((x) => x.question.startsWith("class-prompt diversity"))!;
  assert.equal(div.verdict, "higher");
  assert.match(findingsMarkdown(f), /## What the numbers say/);
  // a missing row drops its comparisons instead of failing
  assert.ok(experimentFindings({ linear: rows.linear }).length === 0);
});

test("experimentTable and experimentRow carry the tone-contrast column", () => {
  const m = run(0.5, 0.5, 0.9, 0.1);
  assert.match(experimentTable([{ name: "x", metrics: m }]), /tone contrast/);
  assert.ok(Math.abs(experimentRow(m).toneContrast!.mean - 0.8) < 1e-12);
});
