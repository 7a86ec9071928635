/**
 * What the comparison measures, each defined once here from the per-image scores `dreambooth score`
 * writes. A measure reads one model's scores as cells (an image, "prompt/seed", or a prompt) and its
 * value for the model is the mean over its cells; two models sampled with the same prompts and seeds
 * are compared cell by cell, which cancels the noise they share.
 */
import { toneVariety } from "../eval/quality";

/** One generated image's scores (lib/experiment/scores `scoreSamples`). */
export interface ImageScore {
  /** the experiment prompt's id and the sampling seed's index */
  prompt: string;
  seed: number;
  /** mean cosine of its embedding to the instance images' (identity fidelity) */
  identity: number;
  /** share of the subject's identity attributes the evaluator finds */
  agreement: number;
  /** share of the prompt's attributes found; absent for prompts that ask none */
  promptFidelity?: number;
  meanLuma: number;
  darkShare: number;
  /** Laplacian variance over the instance photos' mean (1: as crisp as the subject's photos) */
  sharpness: number;
  /** the evaluator's embedding (class-prompt images only: diversity) */
  embedding?: number[];
}

/** What `dreambooth score` writes for one folder of samples. */
export interface ScoreFile {
  samples: string;
  /** prompt id → role, from the samples' prompts.json */
  roles: Record<string, "identity" | "attribute" | "class">;
  /** the instance photos' mean Laplacian variance, the sharpness reference */
  referenceLaplacianVariance: number;
  images: ImageScore[];
}

export type MeasureId =
  "identity" | "agreement" | "prompt" | "sharpness" | "luminance" | "dark" | "tone" | "drift" | "diversity";

export interface Measure {
  id: MeasureId;
  /** how a table names it */
  label: string;
  /** the better direction, for the table's arrows (none for luminance) */
  better: "higher" | "lower" | null;
  /** whether every cell is a share in [0, 1] (its interval then stays inside [0, 1]) */
  share: boolean;
  /** the model's cells: cell key → value */
  cells(s: ScoreFile): Map<string, number>;
}

const subjectSide = (s: ScoreFile, i: ImageScore) =>
  s.roles[i.prompt] === "identity" || s.roles[i.prompt] === "attribute";
const isClass = (s: ScoreFile, i: ImageScore) => s.roles[i.prompt] === "class";
const key = (i: ImageScore) => `${i.prompt}/${i.seed}`;

/** Per-image cells of the images `which` selects. */
function perImage(
  s: ScoreFile,
  which: (s: ScoreFile, i: ImageScore) => boolean,
  value: (i: ImageScore) => number | undefined,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of s.images) {
    if (!which(s, i)) continue;
    const v = value(i);
    if (v !== undefined) out.set(key(i), v);
  }
  return out;
}

function cosine(a: number[], b: number[]): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let k = 0; k < a.length; k++) {
    d += a[k] * b[k];
    na += a[k] * a[k];
    nb += b[k] * b[k];
  }
  return d / Math.sqrt(na * nb);
}

export const MEASURES: Measure[] = [
  {
    id: "identity",
    label: "identity (embedding cosine to the subject)",
    better: "higher",
    share: false,
    cells: (s) => perImage(s, subjectSide, (i) => i.identity),
  },
  {
    id: "agreement",
    label: "identity attributes shared with the subject",
    better: "higher",
    share: true,
    cells: (s) => perImage(s, subjectSide, (i) => i.agreement),
  },
  {
    id: "prompt",
    label: "prompt fidelity (asked-for attributes present)",
    better: "higher",
    share: true,
    cells: (s) =>
      perImage(
        s,
        (f, i) => f.roles[i.prompt] === "attribute",
        (i) => i.promptFidelity,
      ),
  },
  {
    id: "sharpness",
    label: "sharpness (Laplacian variance / the instance photos')",
    better: "higher",
    share: false,
    cells: (s) => perImage(s, subjectSide, (i) => i.sharpness),
  },
  {
    id: "luminance",
    label: "mean luminance",
    better: null,
    share: true,
    cells: (s) => perImage(s, subjectSide, (i) => i.meanLuma),
  },
  {
    id: "dark",
    label: "share of dark pixels (luma < 0.25)",
    better: "lower",
    share: true,
    cells: (s) => perImage(s, subjectSide, (i) => i.darkShare),
  },
  {
    id: "tone",
    label: "tone variety (s.d. of mean luminance across seeds, per prompt)",
    better: "higher",
    share: false,
    cells: (s) => {
      const byPrompt = new Map<string, number[]>();
      for (const i of s.images)
        if (subjectSide(s, i)) byPrompt.set(i.prompt, [...(byPrompt.get(i.prompt) ?? []), i.meanLuma]);
      return new Map([...byPrompt].map(([p, l]) => [p, toneVariety(l)]));
    },
  },
  {
    id: "drift",
    label: "class prompt's similarity to the subject (drift)",
    better: "lower",
    share: false,
    cells: (s) => perImage(s, isClass, (i) => i.identity),
  },
  {
    id: "diversity",
    label: "class prompt's diversity (mean embedding distance)",
    better: "higher",
    share: false,
    // each class image's mean distance 1 − cos to the others: their mean is the mean pairwise distance
    cells: (s) => {
      const cls = s.images.filter((i) => isClass(s, i) && i.embedding);
      const out = new Map<string, number>();
      if (cls.length < 2) return out;
      for (const a of cls) {
        let d = 0;
        for (const b of cls) if (b !== a) d += 1 - cosine(a.embedding!, b.embedding!);
        out.set(key(a), d / (cls.length - 1));
      }
      return out;
    },
  },
];

export const measure = (id: MeasureId): Measure => {
  const m = MEASURES.find((x) => x.id === id);
  if (!m) throw new Error(`unknown measure '${id}'; known: ${MEASURES.map((x) => x.id).join(", ")}`);
  return m;
};

/** The mean of a model's cells for a measure (NaN when it has none). */
export function measureValue(m: Measure, s: ScoreFile): number {
  const c = [...m.cells(s).values()];
  return c.length ? c.reduce((a, b) => a + b, 0) / c.length : NaN;
}
