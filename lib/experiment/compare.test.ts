import { test } from "node:test";
import assert from "node:assert/strict";
import { allEffects, configTable, findEffect, pairedEffect } from "./compare";
import { claimsMarkdown, judgeClaims, tableMarkdown, verdictOf } from "./claims";
import { measure } from "./measures";
import { experiment } from "./fixtures/scored";

test("paired effects recover known differences; the shared noise cancels", () => {
  const models = experiment();
  const effects = allEffects(models);
  const both = findEffect(effects, "sigmoid-ztsnr", "linear", "identity")!;
  assert.ok(Math.abs(both.estimate.mean - 0.1) < 0.01, `effect ${both.estimate.mean}`);
  assert.ok(both.estimate.ci95[0] > 0.08 && both.estimate.ci95[1] < 0.12, `CI ${both.estimate.ci95}`);
  assert.equal(both.perSeed.length, 3);
  assert.equal(both.cells, 24); // identity is scored on the subject-side prompts (paper, instance, cap) × 8 seeds
  // unpaired, the shared noise (±0.15) would swamp a 0.1 difference; paired, each seed's effect is near 0.1
  for (const d of both.perSeed) assert.ok(Math.abs(d - 0.1) < 0.01, `seed effect ${d}`);
  const dark = findEffect(effects, "sigmoid-ztsnr", "linear", "dark")!;
  assert.ok(Math.abs(dark.estimate.mean + 0.1) < 1e-12);
  // against the base model (one model), every seed of the fine-tuning pairs with it
  const tuning = findEffect(effects, "linear", "base", "identity")!;
  assert.ok(Math.abs(tuning.estimate.mean - 0.2) < 0.02);
  // seeds pair by number: a seed the reference lacks is left out
  const lin = models.filter((m) => m.config === "linear");
  const sig = models.filter((m) => m.config === "sigmoid" && m.seed !== 2);
  assert.equal(pairedEffect(measure("identity"), lin, sig)!.perSeed.length, 2);
  assert.equal(pairedEffect(measure("identity"), lin, sig.slice(0, 1)), null, "one pair gives no interval");
});

test("verdicts follow the interval: supported, contradicted, not resolved; 'not much' against its margin", () => {
  assert.equal(verdictOf("higher", [0.01, 0.2]), "supported");
  assert.equal(verdictOf("higher", [-0.2, -0.01]), "contradicted");
  assert.equal(verdictOf("higher", [-0.01, 0.2]), "not resolved");
  assert.equal(verdictOf("lower", [-0.2, -0.01]), "supported");
  assert.equal(verdictOf("small", [-0.01, 0.04], 0.05), "supported");
  assert.equal(verdictOf("small", [0.06, 0.1], 0.05), "contradicted");
  assert.equal(verdictOf("small", [0.01, 0.1], 0.05), "not resolved");
  const results = judgeClaims(allEffects(experiment()));
  const v = Object.fromEntries(results.map((r) => [r.claim.id, r.verdict]));
  assert.equal(v["both-identity"], "supported");
  assert.equal(v["sigmoid-fidelity"], "supported");
  assert.equal(v["both-dark"], "supported");
  // zero terminal SNR alone moved identity by 0.001: well under a quarter of the fine-tuning's 0.2
  assert.equal(v["ztsnr-alone"], "supported");
  const alone = results.find((r) => r.claim.id === "ztsnr-alone")!;
  assert.ok(Math.abs(alone.margin! - 0.05) < 0.006);
  // no no-prior run in this experiment: its claims are left out, not guessed
  assert.ok(!("prior-drift" in v));
  for (const r of results)
    if (r.verdict !== "not resolved")
      assert.ok(r.seedsToResolve !== null && r.seedsToResolve <= 3, `${r.claim.id}: ${r.seedsToResolve}`);
});

test("the table gives seeds, images and intervals; shares stay inside [0, 1]", () => {
  const rows = configTable(experiment());
  assert.deepEqual(
    rows.map((r) => [r.config, r.seeds, r.images]),
    [
      ["base", 1, 32],
      ["linear", 3, 96],
      ["linear-ztsnr", 3, 96],
      ["sigmoid", 3, 96],
      ["sigmoid-ztsnr", 3, 96],
    ],
  );
  for (const r of rows) {
    const p = r.estimates.prompt!;
    assert.ok(p.ci95[0] >= 0 && p.ci95[1] <= 1 && p.ci95[0] <= p.mean && p.mean <= p.ci95[1], `${r.config}: ${p.ci95}`);
  }
  const md = tableMarkdown(rows);
  assert.match(md, /\| configuration \| seeds \| images \|/);
  assert.match(md, /\| sigmoid \+ ZT-SNR \| 3 \| 96 \|/);
  const claims = claimsMarkdown(judgeClaims(allEffects(experiment())), allEffects(experiment()), {
    seeds: 3,
    prompts: 4,
    samplingSeeds: 8,
  });
  assert.match(
    claims,
    /\| the two together gave the clearest improvement \| paper \| identity \| sigmoid \+ ZT-SNR − linear \(paper's baseline\) \| \+0\.1\d\d \[/,
  );
  assert.match(claims, /## Power/);
  assert.match(claims, /3 × 24/);
});
