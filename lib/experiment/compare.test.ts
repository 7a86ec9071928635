import { test } from "node:test";
import assert from "node:assert/strict";
import { allEffects, configTable, findEffect, pairedEffect, type ScoredModel } from "./compare";
import { claimsMarkdown, judgeClaims, tableMarkdown, verdictOf } from "./claims";
import { measure, type ImageScore, type ScoreFile } from "./measures";
import { rng } from "../random";

const ROLES: ScoreFile["roles"] = { paper: "attribute", instance: "identity", cap: "attribute", class: "class" };

/**
 * A model's scores: 8 sampling seeds per prompt; identity = `identity` + noise shared by (prompt, seed)
 * across models (the same starting noise) + a small per-model jitter; other scores fixed or simple.
 */
function model(config: string, seed: number | null, o: { identity: number; dark?: number; jitter?: number }): ScoredModel {
  const shared = rng("shared-noise", "cells");
  const own = rng(`${config}/${seed}`, "jitter");
  const images: ImageScore[] = [];
  for (const prompt of Object.keys(ROLES)) {
    for (let s = 0; s < 8; s++) {
      const common = shared() - 0.5; // the same for every model at this (prompt, seed)
      images.push({
        prompt,
        seed: s,
        identity: o.identity + 0.3 * common + (o.jitter ?? 0) * (own() - 0.5),
        agreement: 0.5,
        promptFidelity: ROLES[prompt] === "attribute" ? (own() < 0.8 ? 1 : 0) : undefined,
        meanLuma: 0.4 + 0.1 * common,
        darkShare: o.dark ?? 0.2,
        sharpness: 1,
        embedding: ROLES[prompt] === "class" ? [1, s, own()] : undefined,
      });
    }
  }
  return { config, seed, scores: { samples: `${config}/${seed}`, roles: ROLES, referenceLaplacianVariance: 1, images } };
}

function experiment(): ScoredModel[] {
  const models = [model("base", null, { identity: 0 })];
  for (const seed of [0, 1, 2]) {
    const s = [0.01, -0.01, 0.005][seed]; // the training seed's own luck, shared by its configurations' images
    models.push(model("linear", seed, { identity: 0.2 + s, jitter: 0.02 }));
    models.push(model("linear-ztsnr", seed, { identity: 0.2 + s + 0.001, jitter: 0.02 }));
    models.push(model("sigmoid", seed, { identity: 0.2 + s - 0.1, jitter: 0.02 }));
    models.push(model("sigmoid-ztsnr", seed, { identity: 0.3 + s, dark: 0.1, jitter: 0.02 }));
  }
  return models;
}

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
  for (const r of results) if (r.verdict !== "not resolved") assert.ok(r.seedsToResolve !== null && r.seedsToResolve <= 3, `${r.claim.id}: ${r.seedsToResolve}`);
});

test("the table gives seeds, images and intervals; shares stay inside [0, 1]", () => {
  const rows = configTable(experiment());
  assert.deepEqual(rows.map((r) => [r.config, r.seeds, r.images]), [
    ["base", 1, 32],
    ["linear", 3, 96],
    ["linear-ztsnr", 3, 96],
    ["sigmoid", 3, 96],
    ["sigmoid-ztsnr", 3, 96],
  ]);
  for (const r of rows) {
    const p = r.estimates.prompt!;
    assert.ok(p.ci95[0] >= 0 && p.ci95[1] <= 1 && p.ci95[0] <= p.mean && p.mean <= p.ci95[1], `${r.config}: ${p.ci95}`);
  }
  const md = tableMarkdown(rows);
  assert.match(md, /\| configuration \| seeds \| images \|/);
  assert.match(md, /\| sigmoid \+ ZT-SNR \| 3 \| 96 \|/);
  const claims = claimsMarkdown(judgeClaims(allEffects(experiment())), allEffects(experiment()), { seeds: 3, prompts: 4, samplingSeeds: 8 });
  assert.match(claims, /\| the two together gave the clearest improvement \| paper \| identity \| sigmoid \+ ZT-SNR − linear \(paper's baseline\) \| \+0\.1\d\d \[/);
  assert.match(claims, /## Power/);
  assert.match(claims, /3 × 24/);
});
