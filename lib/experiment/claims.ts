/**
 * The paper's claims, one line each, with the measure that tests it and a verdict computed from the
 * paired effect's 95 % interval: supported when the interval lies on the claimed side of zero,
 * contradicted when it lies on the other, and otherwise not resolved at this power, with the smallest
 * effect the design could have detected. "Did not improve much" is tested against a margin: a quarter
 * of what the fine-tuning itself does to that measure (linear β against the base model).
 */
import { seedsToResolve, type SeedEstimate } from "../eval/stats";
import { configLabel, findEffect, type ConfigRow, type Effect } from "./compare";
import { measure, MEASURES, type MeasureId } from "./measures";

export type Expectation = "higher" | "lower" | "small";
export type Verdict = "supported" | "contradicted" | "not resolved";

export interface Claim {
  id: string;
  /** whose claim */
  source: string;
  /** the claim in the source's words */
  words: string;
  measure: MeasureId;
  a: string;
  b: string;
  expect: Expectation;
}

/** The share of the fine-tuning's own effect below which a change counts as "not much". */
export const SMALL_SHARE = 0.25;

export const CLAIMS: Claim[] = [
  {
    id: "ztsnr-alone",
    source: "paper",
    words: "zero terminal SNR alone did not improve the results much",
    measure: "identity",
    a: "linear-ztsnr",
    b: "linear",
    expect: "small",
  },
  {
    id: "sigmoid-tones",
    source: "paper",
    words: "the sigmoid schedule gave more varied tones",
    measure: "tone",
    a: "sigmoid",
    b: "linear",
    expect: "higher",
  },
  {
    id: "sigmoid-fidelity",
    source: "paper",
    words: "…but lower fidelity to the subject",
    measure: "identity",
    a: "sigmoid",
    b: "linear",
    expect: "lower",
  },
  {
    id: "both-identity",
    source: "paper",
    words: "the two together gave the clearest improvement",
    measure: "identity",
    a: "sigmoid-ztsnr",
    b: "linear",
    expect: "higher",
  },
  {
    id: "both-blur",
    source: "paper",
    words: "…and fixed the blurred images (뭉개짐)",
    measure: "sharpness",
    a: "sigmoid-ztsnr",
    b: "linear",
    expect: "higher",
  },
  {
    id: "both-dark",
    source: "paper",
    words: "…and the images in only dark tones",
    measure: "dark",
    a: "sigmoid-ztsnr",
    b: "linear",
    expect: "lower",
  },
  {
    id: "prior-drift",
    source: "DreamBooth",
    words: "without prior preservation the class prompt drifts to the subject",
    measure: "drift",
    a: "sigmoid-ztsnr-noprior",
    b: "sigmoid-ztsnr",
    expect: "higher",
  },
  {
    id: "prior-diversity",
    source: "DreamBooth",
    words: "…and loses its diversity",
    measure: "diversity",
    a: "sigmoid-ztsnr-noprior",
    b: "sigmoid-ztsnr",
    expect: "lower",
  },
];

export interface ClaimResult {
  claim: Claim;
  verdict: Verdict;
  effect: SeedEstimate;
  /** training seeds, and paired cells per seed */
  seeds: number;
  cells: number;
  /** for "small" claims: the margin the effect must stay under */
  margin?: number;
  /** training seeds (at these cells, and at four times as many) whose detectable effect reaches |effect|; null: over 1000 */
  seedsToResolve: number | null;
  seedsToResolveWith4xCells: number | null;
}

/** The verdict of an interval on a claim. */
export function verdictOf(expect: Expectation, ci: [number, number], margin = 0): Verdict {
  const [lo, hi] = ci;
  if (expect === "higher") return lo > 0 ? "supported" : hi < 0 ? "contradicted" : "not resolved";
  if (expect === "lower") return hi < 0 ? "supported" : lo > 0 ? "contradicted" : "not resolved";
  return hi < margin ? "supported" : lo > margin ? "contradicted" : "not resolved";
}

/** Every claim whose effect was measured, with its verdict. */
export function judgeClaims(effects: Effect[]): ClaimResult[] {
  const out: ClaimResult[] = [];
  for (const claim of CLAIMS) {
    const e = findEffect(effects, claim.a, claim.b, claim.measure);
    if (!e) continue;
    let margin: number | undefined;
    if (claim.expect === "small") {
      const tuning = findEffect(effects, "linear", "base", claim.measure);
      if (!tuning) continue;
      margin = SMALL_SHARE * Math.abs(tuning.estimate.mean);
    }
    const target = claim.expect === "small" ? margin! : e.estimate.mean;
    out.push({
      claim,
      verdict: verdictOf(claim.expect, e.estimate.ci95, margin),
      effect: e.estimate,
      seeds: e.perSeed.length,
      cells: e.cells,
      margin,
      seedsToResolve: seedsToResolve(e.components, target),
      seedsToResolveWith4xCells: seedsToResolve(e.components, target, 4 * e.cells),
    });
  }
  return out;
}

// ------------------------------------------------------------------ Markdown

/** A number as the results print it: 3 decimals (1 from 100 up). */
export const num = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));
/** A number with its sign (+ or −), as `num` prints it. */
export const signed = (x: number) => (x >= 0 ? "+" : "−") + num(Math.abs(x));
/** An estimate and its 95 % interval, "+0.032 [+0.018, +0.047]" when signed. */
export const interval = (e: { mean: number; ci95: [number, number] }, sign = false) =>
  sign
    ? `${signed(e.mean)} [${signed(e.ci95[0])}, ${signed(e.ci95[1])}]`
    : `${num(e.mean)} [${num(e.ci95[0])}, ${num(e.ci95[1])}]`;

/** metrics/claims.md: one line per claim, the results in plain words (when given), the power needed to resolve each, and every paired effect. */
export function claimsMarkdown(
  results: ClaimResult[],
  effects: Effect[],
  design: { seeds: number; prompts: number; samplingSeeds: number },
  plainly: string[] = [],
): string {
  const lines = [
    "# The paper's claims, measured",
    "",
    `Each configuration fine-tuned with ${design.seeds} training seeds; each model sampled at ${design.prompts} prompts × ` +
      `${design.samplingSeeds} sampling seeds. An effect is the mean paired difference (same prompt and sampling seed, same ` +
      "training seed), with a 95 % Student-t interval over the training seeds; a verdict follows from the interval: " +
      'supported (on the claimed side of 0), contradicted (on the other side), or not resolved. "Detectable" is the ' +
      "smallest true effect this design finds with 80 % power.",
    "",
    "| claim | source | measure | comparison | effect [95 % CI] | n (seeds × cells) | verdict | detectable |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const c = r.claim;
    const margin = r.margin !== undefined ? ` (margin ${num(r.margin)})` : "";
    lines.push(
      `| ${c.words} | ${c.source} | ${c.measure} | ${configLabel(c.a)} − ${configLabel(c.b)} | ${interval(r.effect, true)} | ` +
        `${r.seeds} × ${Math.round(r.cells)} | **${r.verdict}**${margin} | ±${num(r.effect.mde)} |`,
    );
  }
  if (plainly.length) lines.push("", "## In plain words", "", ...plainly.map((s) => `- ${s}`));
  lines.push(
    "",
    "## Power",
    "",
    'Training seeds each claim\'s effect would need (the seen effect, or the margin for "not much") for a 5 % test to find ' +
      "it with 80 % power, from the measured spread between training seeds and between images:",
    "",
    `| claim | effect to resolve | training seeds, ${design.samplingSeeds} sampling seeds | with ${4 * design.samplingSeeds} sampling seeds |`,
    "|---|---|---|---|",
  );
  const k = (x: number | null) => (x === null ? "over 1000" : String(x));
  for (const r of results) {
    const target = r.margin ?? r.effect.mean;
    const need = target === 0 ? "— | —" : `${k(r.seedsToResolve)} | ${k(r.seedsToResolveWith4xCells)}`;
    lines.push(`| ${r.claim.id} | ${signed(target)} | ${need} |`);
  }
  lines.push(
    "",
    "## Every paired effect",
    "",
    "| comparison | " + MEASURES.map((m) => m.id).join(" | ") + " |",
    "|---|" + MEASURES.map(() => "---").join("|") + "|",
  );
  const pairs = [...new Set(effects.map((e) => `${e.a}|${e.b}`))];
  for (const p of pairs) {
    const [a, b] = p.split("|");
    const cells = MEASURES.map((m) => {
      const e = findEffect(effects, a, b, m.id);
      return e ? interval(e.estimate, true) : "—";
    });
    lines.push(`| ${configLabel(a)} − ${configLabel(b)} | ${cells.join(" | ")} |`);
  }
  lines.push("", "Measures: " + MEASURES.map((m) => `**${m.id}**: ${m.label}`).join("; ") + ".");
  return lines.join("\n") + "\n";
}

/** metrics/table.md: each configuration's value of each measure, with its interval and n. */
export function tableMarkdown(rows: ConfigRow[]): string {
  const arrow = (id: MeasureId) => {
    const b = measure(id).better;
    return b === "higher" ? " ↑" : b === "lower" ? " ↓" : "";
  };
  const lines = [
    "| configuration | seeds | images | " + MEASURES.map((m) => `${m.id}${arrow(m.id)}`).join(" | ") + " |",
    "|---|---|---|" + MEASURES.map(() => "---").join("|") + "|",
  ];
  for (const r of rows) {
    const cells = MEASURES.map((m) => {
      const e = r.estimates[m.id];
      return e ? interval(e) : "—";
    });
    lines.push(`| ${configLabel(r.config)} | ${r.seeds} | ${r.images} | ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    "Mean [95 % CI]. Fine-tunings: Student t over training seeds (shares: on the logit scale, inside [0, 1]); the base " +
      "model: over its images. Measures: " +
      MEASURES.map((m) => `**${m.id}**: ${m.label}`).join("; ") +
      ".",
  );
  return lines.join("\n") + "\n";
}
