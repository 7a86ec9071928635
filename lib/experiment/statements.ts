/**
 * The comparison's results in plain words, for notebook 04, metrics/claims.md and the README: a handful of statements, each
 * computed from what the `compare` stage wrote (metrics/claims.json, effects.json, table.json), so the
 * words cannot drift from the numbers. An effect is "resolved" when its 95 % interval leaves out zero.
 */
import { interval, num, signed, type ClaimResult } from "./claims";
import { configLabel, type ConfigRow, type Effect } from "./compare";
import { measure, type MeasureId } from "./measures";

/** What `dreambooth compare` wrote, read back. */
export interface ComparisonResults {
  claims: ClaimResult[];
  effects: Effect[];
  table: ConfigRow[];
}

const ci = (e: { mean: number; ci95: [number, number] }) => interval(e, true);
const resolved = (e: Effect) => e.estimate.ci95[0] > 0 || e.estimate.ci95[1] < 0;
const WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
const count = (n: number) => WORDS[n] ?? String(n);

function effect(r: ComparisonResults, a: string, b: string, m: MeasureId): Effect | undefined {
  return r.effects.find((e) => e.a === a && e.b === b && e.measure === m);
}

/**
 * Up to six statements, each present when the results hold what it needs: (1) did fine-tuning learn the
 * subject, (2) which measures separate each forward process from the paper's baseline, (3) the paper's
 * claims by verdict, (3b) which of the two changes carries a supported gain of the two together, (4) what
 * prior preservation did, (5) how many training seeds the main claim needs.
 */
export function resultStatements(r: ComparisonResults): string[] {
  const out: string[] = [];
  const seeds = r.effects[0]?.perSeed.length ?? 0;

  // 1. the subject, against the base model
  const tuning = effect(r, "linear", "base", "identity");
  if (tuning) {
    out.push(
      `Fine-tuning learnt the subject: with the paper's baseline (linear β) the images' identity similarity to the ` +
        `subject rose by ${ci(tuning.estimate)} over the base model's (paired by prompt and sampling seed, ` +
        `${count(seeds)} training seeds)${resolved(tuning) ? "" : ", an interval that still includes zero"}.`,
    );
  }

  // 2. each forward process against the baseline: which measures separate them
  const others = ["linear-ztsnr", "sigmoid", "sigmoid-ztsnr"];
  const parts: string[] = [];
  for (const a of others) {
    const es = r.effects.filter((e) => e.a === a && e.b === "linear");
    if (!es.length) continue;
    const sep = es.filter(resolved);
    parts.push(
      sep.length
        ? `${configLabel(a)} differs in ${sep.map((e) => `${e.measure} (${ci(e.estimate)})`).join(", ")}`
        : `${configLabel(a)} in none of the ${count(es.length)} measures`,
    );
  }
  if (parts.length) out.push(`Against the linear baseline, ${parts.join("; ")}.`);

  // 3. the paper's claims by verdict
  const paper = r.claims.filter((c) => c.claim.source === "paper");
  if (paper.length) {
    const by = (v: string) => paper.filter((c) => c.verdict === v);
    const say = (c: ClaimResult) => `"${c.claim.words}" (${c.claim.measure} ${ci(c.effect)})`;
    const sup = by("supported");
    const con = by("contradicted");
    const open = by("not resolved");
    out.push(
      `Of the paper's ${count(paper.length)} claims, ${count(sup.length)} ${sup.length === 1 ? "is" : "are"} supported` +
        (sup.length ? `: ${sup.map(say).join("; ")}` : "") +
        `; ${count(con.length)} contradicted${con.length ? `: ${con.map(say).join("; ")}` : ""}; ` +
        `${count(open.length)} not resolved at this power${open.length ? ` (${open.map((c) => c.claim.id).join(", ")})` : ""}.`,
    );
  }

  // 3b. where the two changes together beat the baseline: which of the two carries the gain
  const both = paper.filter(
    (c) => c.claim.a === "sigmoid-ztsnr" && c.claim.b === "linear" && c.verdict === "supported",
  );
  const parts2 = both.flatMap((c) => {
    const alone = effect(r, "sigmoid", "linear", c.claim.measure);
    const added = effect(r, "sigmoid-ztsnr", "sigmoid", c.claim.measure);
    return alone && added ? [{ m: c.claim.measure, sign: Math.sign(c.effect.mean), alone, added }] : [];
  });
  if (parts2.length) {
    const helps = (e: Effect, sign: number) => resolved(e) && Math.sign(e.estimate.mean) === sign;
    const fromSigmoid = parts2.every((p) => helps(p.alone, p.sign) && !resolved(p.added));
    const fromZtsnr = parts2.every((p) => helps(p.added, p.sign) && !helps(p.alone, p.sign));
    const fromBoth = parts2.every((p) => helps(p.added, p.sign) && helps(p.alone, p.sign));
    out.push(
      `Where the two together beat the baseline, split into its parts: ` +
        parts2
          .map(
            (p) =>
              `${p.m}: the sigmoid schedule alone ${ci(p.alone.estimate)}, zero terminal SNR added to it ${ci(p.added.estimate)}`,
          )
          .join("; ") +
        (fromSigmoid
          ? ". The gain comes from the sigmoid schedule; zero terminal SNR adds nothing this design can see."
          : fromZtsnr
            ? ". The gain comes from zero terminal SNR, given the sigmoid schedule."
            : fromBoth
              ? ". Both changes contribute."
              : "."),
    );
  }

  // 4. prior preservation off against on (same forward process)
  const drift = effect(r, "sigmoid-ztsnr-noprior", "sigmoid-ztsnr", "drift");
  const diversity = effect(r, "sigmoid-ztsnr-noprior", "sigmoid-ztsnr", "diversity");
  const identity = effect(r, "sigmoid-ztsnr-noprior", "sigmoid-ztsnr", "identity");
  if (drift && diversity) {
    out.push(
      `Without prior preservation the class prompt's images moved toward the subject by ${ci(drift.estimate)} and their ` +
        `diversity changed by ${ci(diversity.estimate)}` +
        (identity ? `, while the subject's own prompts gained ${ci(identity.estimate)} in identity` : "") +
        ` (the trade DreamBooth's prior loss makes).`,
    );
  }

  // 5. what it would take to resolve the paper's main claim
  const main = r.claims.find((c) => c.claim.id === "both-identity");
  if (main && main.verdict === "not resolved") {
    const need = main.seedsToResolve === null ? "more than 1000" : String(main.seedsToResolve);
    out.push(
      `The paper's main claim, that the two changes together improve on the baseline, needs about ${need} training seeds ` +
        `per configuration to resolve an effect of the size seen (${signed(main.effect.mean)} in ${main.claim.measure}; ` +
        `this design detects ±${num(main.effect.mde)} with 80 % power).`,
    );
  }
  return out;
}

/** One row per claim for a table: the claim, its comparison, the effect with its interval, n and the verdict. */
export function claimRows(claims: ClaimResult[]): Record<string, string>[] {
  return claims.map((c) => ({
    claim: c.claim.words,
    source: c.claim.source,
    measure: `${c.claim.measure}: ${measure(c.claim.measure).label}`,
    comparison: `${configLabel(c.claim.a)} − ${configLabel(c.claim.b)}`,
    "effect [95 % CI]": ci(c.effect),
    n: `${c.seeds} seeds × ${Math.round(c.cells)} images`,
    verdict: c.verdict + (c.margin !== undefined ? ` (margin ${num(c.margin)})` : ""),
    detectable: `±${num(c.effect.mde)}`,
  }));
}
