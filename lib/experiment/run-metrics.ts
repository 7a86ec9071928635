/** One configuration's scores, as `dreambooth score` writes them, and the numbers read off them. */
import type { Estimate } from "../eval/stats";
import type { MetricsReport } from "../eval/metrics";

export interface RunMetrics {
  /** identity fidelity over the identity and attribute prompts */
  identitySimilarity: Estimate | null;
  identityAgreement: Estimate | null;
  /** prompt fidelity over the attribute prompts */
  promptFidelity: Estimate | null;
  /** diversity of the class-prompt samples (language drift: lower = the class collapsed onto the subject) */
  classDiversity: Estimate | null;
  /** identity similarity of the class-prompt samples to the subject (drift: higher = class became the subject) */
  classSubjectSimilarity: Estimate | null;
  /** mean-luminance spread (5th–95th percentile) over all samples: zero terminal SNR should widen it */
  luminanceRange: Estimate;
  luminanceMean: Estimate;
  byPrompt: Record<string, MetricsReport["metrics"]>;
}

/** "mean [low, high]" to 3 decimals; "—" for a missing estimate (the table's and the findings' format). */
export const formatEstimate = (e: Estimate | null): string => (e ? `${e.mean.toFixed(3)} [${e.ci95[0].toFixed(3)}, ${e.ci95[1].toFixed(3)}]` : "—");

/**
 * Tone contrast of one run: mean luma of its "very bright background" samples minus that of its
 * "very dark background" samples (prompt ids "bright" and "dark"), with a conservative interval
 * (difference of the interval ends). Zero terminal SNR is claimed to widen it (Lin et al. 2023, sec. 3).
 */
export function toneContrast(m: RunMetrics): Estimate | null {
  const b = m.byPrompt?.bright?.luminanceMean;
  const d = m.byPrompt?.dark?.luminanceMean;
  if (!b || !d) return null;
  return { mean: b.mean - d.mean, ci95: [b.ci95[0] - d.ci95[1], b.ci95[1] - d.ci95[0]], n: Math.min(b.n, d.n), method: b.method };
}
