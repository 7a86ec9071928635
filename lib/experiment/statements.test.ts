import { test } from "node:test";
import assert from "node:assert/strict";
import { allEffects, configTable } from "./compare";
import { judgeClaims } from "./claims";
import { experiment, model } from "./fixtures/scored";
import { claimRows, resultStatements } from "./statements";

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
  const [subject, processes, claims, parts, prior] = resultStatements(results(true));
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
  // the fixture: sigmoid alone −0.100 in identity, so zero terminal SNR carries the two's +0.100 (about +0.200)
  assert.match(parts, /identity: the sigmoid schedule alone −0\.100 \[.*zero terminal SNR added to it \+0\.2\d\d \[/);
  assert.match(parts, /The gain comes from zero terminal SNR, given the sigmoid schedule\.$/);
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

test("a gain of the two together that the sigmoid schedule alone gives is put down to the sigmoid schedule", () => {
  // sigmoid alone +0.100 over linear and as dark as sigmoid + ZT-SNR: zero terminal SNR adds ~0 within sigmoid
  const models = experiment().map((m) =>
    m.config === "sigmoid"
      ? model("sigmoid", m.seed, { identity: 0.3 + [0.01, -0.01, 0.005][m.seed!], dark: 0.1, jitter: 0.02 })
      : m,
  );
  const effects = allEffects(models);
  const out = resultStatements({ claims: judgeClaims(effects), effects, table: configTable(models) });
  const parts = out.find((s) => s.startsWith("Where the two together"));
  assert.ok(parts, out.join("\n"));
  assert.match(
    parts,
    /identity: the sigmoid schedule alone \+0\.1\d\d \[.*zero terminal SNR added to it [+−]0\.0\d\d \[/,
  );
  assert.match(
    parts,
    /The gain comes from the sigmoid schedule; zero terminal SNR adds nothing this design can see\.$/,
  );
});
