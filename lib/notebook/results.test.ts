import { test } from "node:test";
import assert from "node:assert/strict";
import { allEffects, configTable } from "../experiment/compare";
import { judgeClaims } from "../experiment/claims";
import { experiment, model } from "../experiment/fixtures/scored";
import { claimRows, resultStatements } from "./results";

function results(withNoPrior: boolean) {
  const models = experiment();
  if (withNoPrior) {
    // no prior: identity higher, and the class prompt drifts toward the subject (identity on every prompt)
    for (const seed of [0, 1, 2]) models.push(model("sigmoid-ztsnr-noprior", seed, { identity: 0.5, jitter: 0.02 }));
  }
  const effects = allEffects(models);
  return { claims: judgeClaims(effects), effects, table: configTable(models) };
}

test("the statements follow the numbers: subject learnt, what separates each process, claims, prior", () => {
  const [subject, processes, claims, prior] = resultStatements(results(true));
  assert.match(
    subject,
    /identity similarity to the subject rose by \+0\.2\d\d \[\+0\.\d+, \+0\.\d+\] over the base model's/,
  );
  assert.match(subject, /three training seeds\)\.$/);
  assert.match(processes, /linear \+ ZT-SNR in none of the nine measures|linear \+ ZT-SNR differs in identity/);
  assert.match(processes, /sigmoid differs in identity \(−0\.100 \[/);
  assert.match(processes, /sigmoid \+ ZT-SNR differs in identity \(\+0\.100 \[.*dark \(−0\.100/);
  assert.match(
    claims,
    /Of the paper's six claims, four are supported: .*"the two together gave the clearest improvement" \(identity \+0\.100/,
  );
  assert.match(claims, /not resolved at this power \(sigmoid-tones, both-blur\)/);
  assert.match(prior, /moved toward the subject by \+0\.\d+ \[/);
});

test("statements whose results are missing are left out; claim rows give n and the verdict", () => {
  const r = results(false);
  const out = resultStatements(r);
  assert.ok(!out.some((s) => s.includes("Without prior preservation")));
  const rows = claimRows(r.claims);
  const both = rows.find((x) => x.claim.startsWith("the two together"))!;
  assert.equal(both.n, "3 seeds × 24 images");
  assert.equal(both.verdict, "supported");
  assert.match(both["effect [95 % CI]"], /^\+0\.100 \[\+0\.0\d\d, \+0\.1\d\d\]$/);
  assert.equal(resultStatements({ claims: [], effects: [], table: [] }).length, 0);
});
