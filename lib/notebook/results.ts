/**
 * The experiment's results in plain words, for notebook 04: a handful of statements, each computed
 * from the report stage's table (metrics/table.json: configuration → column → estimate), so the
 * words cannot drift from the numbers. Two estimates differ only where their 95 % intervals are
 * disjoint (`compareEstimates`), the report's own conservative test.
 */
import type { Estimate } from "../eval/stats";
import { compareEstimates, CONFIG_NAMES } from "../experiment/findings";

/** metrics/table.json: one row per configuration, one estimate (or null) per column of the table. */
export type ExperimentTable = Record<string, Record<string, Estimate | null>>;

/** The columns the statements read, with the words they use for them. */
export const TABLE_MEASURES: Record<string, string> = {
  identitySimilarity: "identity similarity",
  identityAgreement: "identity attributes",
  promptFidelity: "prompt fidelity",
  classDiversity: "class-prompt diversity",
  classSubjectSimilarity: "class-to-subject drift",
  luminanceRange: "luminance range",
  toneContrast: "tone contrast",
};

const f3 = (v: number) => v.toFixed(3);
const WORDS = ["no", "one", "two", "three", "four", "five", "six"];
const count = (n: number) => WORDS[n] ?? String(n);
const ci = (e: Estimate) => `${f3(e.mean)} [${f3(e.ci95[0])}, ${f3(e.ci95[1])}]`;

/**
 * Up to five statements, each present when the table has the rows it needs: (1) did fine-tuning
 * learn the subject (the four runs against the base model), (2) can the four forward processes be
 * told apart, (3) what zero terminal SNR did to tones, (4) what prior preservation did, and (5) what
 * fine-tuning cost against the base model.
 */
export function experimentStatements(table: ExperimentTable): string[] {
  const N = CONFIG_NAMES;
  const get = (run: string, col: string) => table[run]?.[col] ?? null;
  const four = [N.linear, N.linearZt, N.sigmoid, N.sigmoidZt].filter((r) => table[r]);
  const out: string[] = [];

  // 1. the subject, against the base model
  const baseId = get(N.base, "identitySimilarity");
  const ids = four.map((r) => get(r, "identitySimilarity")).filter((e): e is Estimate => e !== null);
  if (baseId && ids.length === four.length && ids.length) {
    const clear = ids.filter((e) => compareEstimates(e, baseId) === "higher").length;
    const means = ids.map((e) => e.mean);
    const range = `${f3(Math.min(...means))}–${f3(Math.max(...means))}`;
    const all = clear === ids.length;
    const above = all ? "every one of their intervals lies above the base's" : `${count(clear)} of them lie above it`;
    out.push(
      `Fine-tuning learnt the subject: identity similarity rose from ${f3(baseId.mean)} (base model) to ${range} ` +
        `in the ${count(ids.length)} runs with prior preservation; ${above}.`,
    );
  }

  // 2. the four forward processes against each other, on every measure
  if (four.length >= 2) {
    let widest = { col: "", spread: -1, width: 0 };
    const resolved: string[] = [];
    for (const col of Object.keys(TABLE_MEASURES)) {
      const es = four.map((r) => get(r, col));
      if (es.some((e) => e === null)) continue;
      const e = es as Estimate[];
      const means = e.map((x) => x.mean);
      const spread = Math.max(...means) - Math.min(...means);
      const widths = e.map((x) => x.ci95[1] - x.ci95[0]).sort((a, b) => a - b);
      if (spread > widest.spread) widest = { col, spread, width: widths[widths.length >> 1] };
      for (let i = 0; i < e.length; i++) {
        for (let j = i + 1; j < e.length; j++) {
          const v = compareEstimates(e[i], e[j]);
          if (v !== "not resolved") resolved.push(`${TABLE_MEASURES[col]}: ${four[i]} ${v} than ${four[j]}`);
        }
      }
    }
    const gap =
      `The largest gap between their means is ${f3(widest.spread)} (${TABLE_MEASURES[widest.col]}), ` +
      `against intervals about ${f3(widest.width)} wide.`;
    if (widest.spread >= 0) {
      out.push(
        resolved.length
          ? `The forward processes differ where their intervals are disjoint: ${resolved.join("; ")}. ${gap}`
          : `The ${count(four.length)} forward processes (${four.join(", ")}) cannot be told apart at this ` +
              `sample size: on no measure do any two of them have disjoint intervals. ${gap}`,
      );
    }
  }

  // 3. zero terminal SNR on vs off, per β schedule: what it is meant to change
  const pairs = ([[N.linear, N.linearZt, "linear β"], [N.sigmoid, N.sigmoidZt, "sigmoid β"]] as const).filter(
    ([off, on]) => table[off] && table[on],
  );
  const zt = (col: string) =>
    pairs
      .map(([off, on, label]) => {
        const [a, b] = [get(off, col), get(on, col)];
        return a && b ? { label, a, b, d: b.mean - a.mean, v: compareEstimates(b, a) } : null;
      })
      .filter((x) => x !== null);
  const tone = zt("toneContrast");
  const lum = zt("luminanceRange");
  const moved = (x: { a: Estimate; b: Estimate }) => `from ${f3(x.a.mean)} to ${f3(x.b.mean)}`;
  if (tone.length) {
    const largest = Math.max(...[...tone, ...lum].map((x) => Math.abs(x.d)));
    const anyResolved = [...tone, ...lum].some((x) => x.v !== "not resolved");
    out.push(
      `Zero terminal SNR is meant to widen the range of tones (brighter brights, darker darks). Turned on, it moved ` +
        `the tone contrast ${tone.map((x) => `from ${f3(x.a.mean)} to ${f3(x.b.mean)} (${x.label})`).join(" and ")}` +
        (lum.length ? ` and the luminance range ${lum.map(moved).join(" and ")}` : "") +
        `: ${anyResolved ? "some of these changes are resolved" : `changes of at most ${f3(largest)}, none resolved`}.`,
    );
  }

  // 4. prior preservation on vs off (same forward process)
  const withPrior = N.sigmoidZt;
  const without = N.noPrior;
  if (table[withPrior] && table[without]) {
    const parts: string[] = [];
    for (const col of ["identitySimilarity", "classSubjectSimilarity", "classDiversity", "promptFidelity"]) {
      const [a, b] = [get(without, col), get(withPrior, col)];
      if (!a || !b) continue;
      const v = compareEstimates(a, b);
      parts.push(`${TABLE_MEASURES[col]} ${ci(a)} against ${ci(b)} (${v === "not resolved" ? "not resolved" : v})`);
    }
    if (parts.length) {
      const head = "Prior preservation is the setting that changes the results.";
      out.push(`${head} Without it (${without}, against ${withPrior}): ${parts.join("; ")}.`);
    }
  }

  // 5. what fine-tuning with prior preservation cost against the base model
  const costs: string[] = [];
  for (const col of ["classDiversity", "promptFidelity"]) {
    const base = get(N.base, col);
    const es = four.map((r) => get(r, col)).filter((e): e is Estimate => e !== null);
    if (!base || es.length !== four.length || !es.length) continue;
    const lower = es.filter((e) => compareEstimates(e, base) === "lower").length;
    const means = es.map((e) => e.mean);
    const below = means.every((m) => m < base.mean);
    const verdict = lower
      ? `${count(lower)} of the ${count(es.length)} resolved lower`
      : below
        ? "lower in every run, but no interval clear of the base's"
        : "not resolved";
    const range = `${f3(Math.min(...means))}–${f3(Math.max(...means))}`;
    costs.push(`${TABLE_MEASURES[col]} ${range} against the base model's ${f3(base.mean)} (${verdict})`);
  }
  if (costs.length) {
    out.push(`Against the base model, the ${count(four.length)} fine-tuned runs have ${costs.join(", and ")}.`);
  }
  return out;
}
