import { test } from "node:test";
import assert from "node:assert/strict";
import type { Estimate } from "../eval/stats";
import { experimentStatements, type ExperimentTable } from "./results";

const est = (mean: number, half = 0.05): Estimate => ({ mean, ci95: [mean - half, mean + half], n: 8, method: "t" });

/** A table row: every measure at `v`, overridden by `over`. */
const row = (v: number, over: Record<string, Estimate> = {}) => ({
  identitySimilarity: est(v), identityAgreement: est(v), promptFidelity: est(0.9), classDiversity: est(0.4),
  classSubjectSimilarity: est(0.1), luminanceRange: est(0.45), toneContrast: est(0.4), ...over,
});

test("the statements follow the numbers: subject learnt, processes alike, tones unmoved, prior decisive", () => {
  const table: ExperimentTable = {
    base: row(0, { classDiversity: est(0.6) }),
    linear: row(0.15),
    "linear+ztsnr": row(0.16),
    sigmoid: row(0.18),
    "sigmoid+ztsnr": row(0.19),
    "sigmoid+ztsnr,no-prior": row(0.55, { classSubjectSimilarity: est(0.6), classDiversity: est(0.2) }),
  };
  const [subject, processes, tones, prior, costs] = experimentStatements(table);
  assert.match(subject, /from 0\.000 \(base model\) to 0\.150–0\.190 in the four runs/);
  assert.match(subject, /every one of their intervals lies above/);
  // the widest gap: identity, 0.19 − 0.15 = 0.04, with intervals 0.1 wide; all overlap
  assert.match(processes, /cannot be told apart/);
  assert.match(processes, /largest gap between their means is 0\.040 \(identity similarity\), against intervals/);
  assert.match(tones, /from 0\.400 to 0\.400 \(linear β\)/);
  assert.match(tones, /changes of at most 0\.000, none resolved/);
  assert.match(prior, /identity similarity 0\.550 \[0\.500, 0\.600\] against 0\.190 \[0\.140, 0\.240\] \(higher\)/);
  assert.match(prior, /class-prompt diversity 0\.200 \[0\.150, 0\.250\] against 0\.400 \[0\.350, 0\.450\] \(lower\)/);
  assert.match(costs, /diversity 0\.400–0\.400 against the base model's 0\.600 \(four of the four resolved lower\)/);
});

test("a resolved difference between processes is named, and missing rows drop their statements", () => {
  const table: ExperimentTable = { linear: row(0.1), sigmoid: row(0.5) };
  const out = experimentStatements(table);
  assert.equal(out.length, 1);
  assert.match(out[0], /identity similarity: linear lower than sigmoid/);
  assert.deepEqual(experimentStatements({}), []);
});
