/**
 * What the experiment table says, in plain sentences computed from the numbers (so the statement
 * cannot drift from the table): each comparison is "higher", "lower" or "not resolved", decided by
 * whether the two 95 % confidence intervals are disjoint. Disjoint intervals are a conservative test
 * (two means can differ significantly with slightly overlapping intervals), so "not resolved" means
 * "this many seeds cannot tell", never "equal".
 */
import type { Estimate } from "../eval/stats";
import { formatEstimate, toneContrast, type RunMetrics } from "./run-metrics";

export { formatEstimate, toneContrast } from "./run-metrics";

export type Verdict = "higher" | "lower" | "not resolved";

/** `a` against `b` by their 95 % intervals. */
export function compareEstimates(a: Estimate, b: Estimate): Verdict {
  if (a.ci95[0] > b.ci95[1]) return "higher";
  if (a.ci95[1] < b.ci95[0]) return "lower";
  return "not resolved";
}

export interface Finding {
  /** what is compared, e.g. "identity fidelity: sigmoid+ztsnr vs linear" */
  question: string;
  verdict: Verdict;
  a: { name: string; estimate: Estimate };
  b: { name: string; estimate: Estimate };
  sentence: string;
}

/** The configuration names the pipeline's `report` stage uses (dvc.yaml). */
export const CONFIG_NAMES = {
  base: "base",
  linear: "linear",
  linearZt: "linear+ztsnr",
  sigmoid: "sigmoid",
  sigmoidZt: "sigmoid+ztsnr",
  noPrior: "sigmoid+ztsnr,no-prior",
} as const;

type Metric = { key: string; label: string; get: (m: RunMetrics) => Estimate | null };
const METRICS: Record<string, Metric> = {
  identity: { key: "identitySimilarity", label: "identity fidelity (embedding cosine to the instance images)", get: (m) => m.identitySimilarity },
  agreement: { key: "identityAgreement", label: "identity fidelity (identity attributes shared with the subject)", get: (m) => m.identityAgreement },
  prompt: { key: "promptFidelity", label: "prompt fidelity", get: (m) => m.promptFidelity },
  diversity: { key: "classDiversity", label: "class-prompt diversity", get: (m) => m.classDiversity },
  drift: { key: "classSubjectSimilarity", label: "class-prompt similarity to the subject (drift)", get: (m) => m.classSubjectSimilarity },
  luminance: { key: "luminanceRange", label: "luminance range", get: (m) => m.luminanceRange },
  tone: { key: "toneContrast", label: "tone contrast (very bright minus very dark prompt)", get: toneContrast },
};

/**
 * The comparisons the paper's claims and DreamBooth's checks call for, on whichever of the rows exist:
 * fine-tuned vs base (identity), each scheduler setting vs the linear baseline (identity, prompt
 * fidelity, luminance, tones), zero terminal SNR on vs off per schedule (tones), prior preservation
 * on vs off (class diversity and drift).
 */
export function experimentFindings(rows: Record<string, RunMetrics>): Finding[] {
  const N = CONFIG_NAMES;
  const out: Finding[] = [];
  const add = (metric: Metric, a: string, b: string, why: string) => {
    const ma = rows[a];
    const mb = rows[b];
    if (!ma || !mb) return;
    const ea = metric.get(ma);
    const eb = metric.get(mb);
    if (!ea || !eb) return;
    const verdict = compareEstimates(ea, eb);
    const said = verdict === "not resolved" ? "not resolved (the 95 % intervals overlap)" : `${a} is ${verdict} (the 95 % intervals are disjoint)`;
    out.push({
      question: `${metric.label}: ${a} vs ${b}`,
      verdict,
      a: { name: a, estimate: ea },
      b: { name: b, estimate: eb },
      sentence: `${why} — ${metric.label}: ${a} ${formatEstimate(ea)} vs ${b} ${formatEstimate(eb)}: ${said}.`,
    });
  };
  for (const c of [N.linear, N.linearZt, N.sigmoid, N.sigmoidZt]) add(METRICS.identity, c, N.base, "subject learnt? (fine-tuned vs base)");
  for (const c of [N.linearZt, N.sigmoid, N.sigmoidZt]) {
    add(METRICS.identity, c, N.linear, "the paper's claim (vs the linear baseline)");
    add(METRICS.prompt, c, N.linear, "the paper's claim (vs the linear baseline)");
    add(METRICS.luminance, c, N.linear, "the paper's claim (vs the linear baseline)");
  }
  add(METRICS.tone, N.linearZt, N.linear, "zero terminal SNR on vs off (linear β)");
  add(METRICS.tone, N.sigmoidZt, N.sigmoid, "zero terminal SNR on vs off (sigmoid β)");
  add(METRICS.diversity, N.sigmoidZt, N.noPrior, "language drift (prior preservation on vs off)");
  add(METRICS.drift, N.sigmoidZt, N.noPrior, "language drift (prior preservation on vs off)");
  return out;
}

/** The findings as a Markdown list under a heading. */
export function findingsMarkdown(findings: Finding[]): string {
  if (!findings.length) return "";
  return ["", "## What the numbers say", "", ...findings.map((f) => `- ${f.sentence}`), ""].join("\n");
}
