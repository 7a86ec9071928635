/**
 * The paper's four-way experiment, measured: sample every fine-tuned model with the same prompts and
 * seeds, score the samples with the attribute evaluator, and tabulate mean and 95% CI per
 * configuration (plus the base model and a no-prior-preservation run as reference rows).
 */
import * as fs from "fs";
import * as path from "path";
import { imagePng } from "../pipeline/stable-diffusion";
import { ImageGenerator } from "../pipeline/generator";
import { writeFileAtomic } from "../io/atomic";
import { computeMetrics, readImageSet, readSubject, Evaluator, ImageSet, MetricsReport } from "../eval/metrics";
import { loadEvaluator } from "../eval/weights";
import type { Estimate } from "../eval/stats";
import type { SchedulerKind, TimestepSpacing } from "../diffusion/samplers";
import { Progress } from "../train/progress";
import { formatEstimate, toneContrast, type RunMetrics } from "./run-metrics";

export type PromptRole = "identity" | "attribute" | "class";

export interface ExperimentPrompt {
  id: string;
  prompt: string;
  /** identity: scored for identity fidelity; attribute: also for prompt fidelity; class: diversity (language drift) */
  role: PromptRole;
}

/**
 * The paper's prompt (its Figures 6), less subjective prompts in the spirit of its Figure 7, each
 * phrased in the captions' grammar so the evaluator can check the asked-for attribute, and the class
 * prompt, whose diversity prior preservation is meant to keep.
 */
export const EXPERIMENT_PROMPTS: ExperimentPrompt[] = [
  { id: "paper", prompt: "a photo of sks person without mustache, handsome, ultra realistic, 4k, 8k", role: "attribute" },
  { id: "instance", prompt: "a photo of sks person", role: "identity" },
  { id: "cap", prompt: "a photo of sks person with a cap", role: "attribute" },
  { id: "bright", prompt: "a photo of sks person, very bright background", role: "attribute" },
  { id: "dark", prompt: "a photo of sks person, very dark background", role: "attribute" },
  { id: "class", prompt: "a photo of person", role: "class" },
];

export interface SampleRunOptions {
  model: string;
  out: string;
  prompts: ExperimentPrompt[];
  seeds: number;
  steps: number;
  guidance: number;
  guidanceRescale: number;
  scheduler: SchedulerKind;
  spacing: TimestepSpacing;
  seed: number;
  /** image side in pixels (default: the model's own) */
  resolution?: number;
  /** worker threads that sample (default: every core on wasm and cpu, none on a GPU backend); the images are the same bytes for any number */
  workers?: number;
}

/** Writes <out>/<prompt id>/seed-<k>.png for every prompt and seed, and <out>/prompts.json (file → prompt). */
export async function sampleRun(o: SampleRunOptions): Promise<number> {
  const { workers, ...settings } = o;
  let n = 0;
  fs.rmSync(o.out, { recursive: true, force: true });
  for (const p of o.prompts) fs.mkdirSync(path.join(o.out, p.id), { recursive: true });
  const generator = await ImageGenerator.open(o.model, { workers });
  try {
    const progress = new Progress({ label: `samples${generator.workers > 1 ? ` (${generator.workers} workers)` : ""}`, total: o.prompts.length * o.seeds });
    // every image its own noise, the same for every model: seed (run seed, prompt, k)
    const jobs = o.prompts.map((p) => ({
      prompt: p.prompt,
      count: o.seeds,
      seed: `${o.seed}/${p.id}`,
      steps: o.steps,
      guidance: o.guidance,
      guidanceRescale: o.guidanceRescale,
      scheduler: o.scheduler,
      spacing: o.spacing,
      size: o.resolution,
    }));
    await generator.run(jobs, async (j, images) => {
      const p = o.prompts[j];
      for (let k = 0; k < o.seeds; k++) {
        const rel = `${p.id}/seed-${String(k).padStart(3, "0")}.png`;
        writeFileAtomic(path.join(o.out, rel), await imagePng(images, k));
        n++;
      }
      progress.tick(n);
    });
  } finally {
    await generator.close();
  }
  // files in prompt and seed order, whichever worker finished first
  const files: Record<string, string> = {};
  for (const p of o.prompts) for (let k = 0; k < o.seeds; k++) files[`${p.id}/seed-${String(k).padStart(3, "0")}.png`] = p.prompt;
  writeFileAtomic(path.join(o.out, "prompts.json"), JSON.stringify({ prompts: o.prompts, files, settings: { ...settings, out: undefined } }, null, 2) + "\n");
  return n;
}

export type { RunMetrics } from "./run-metrics";

async function subsetMetrics(imageSets: Map<string, ImageSet>, evaluator: Evaluator, ids: string[], prompts: Record<string, string>, subject: Awaited<ReturnType<typeof readSubject>>): Promise<MetricsReport | null> {
  const sets = ids.map((id) => imageSets.get(id)!);
  const n = sets.reduce((a, s) => a + s.shape[0], 0);
  if (n === 0) return null;
  const [, h, w, c] = sets[0].shape;
  const data = new Float32Array(n * h * w * c);
  const files: string[] = [];
  let off = 0;
  sets.forEach((s, i) => {
    data.set(s.data, off);
    off += s.data.length;
    for (const f of s.files ?? []) files.push(`${ids[i]}/${path.basename(f)}`);
  });
  return computeMetrics(evaluator, { data, shape: [n, h, w, c], files }, { subject, prompts: files.map((f) => prompts[f]) });
}

/** Scores a folder written by `sampleRun` against the subject's instance images. */
export async function evaluateRun(samples: string, subjectDir: string, evaluatorDir: string): Promise<RunMetrics> {
  const meta = JSON.parse(fs.readFileSync(path.join(samples, "prompts.json"), "utf8")) as { prompts: ExperimentPrompt[]; files: Record<string, string> };
  const ev = loadEvaluator(evaluatorDir);
  const evaluator: Evaluator = { params: ev.params, config: ev.config };
  try {
    const subject = await readSubject(evaluator, subjectDir);
    // every prompt's folder read once, shared by the subsets below
    const sets = new Map<string, ImageSet>();
    for (const p of meta.prompts) sets.set(p.id, await readImageSet(path.join(samples, p.id)));
    const ids = (role: PromptRole[]) => meta.prompts.filter((p) => role.includes(p.role)).map((p) => p.id);
    const subjectSide = await subsetMetrics(sets, evaluator, ids(["identity", "attribute"]), meta.files, subject);
    const attribute = await subsetMetrics(sets, evaluator, ids(["attribute"]), meta.files, subject);
    const cls = await subsetMetrics(sets, evaluator, ids(["class"]), meta.files, subject);
    const all = await subsetMetrics(sets, evaluator, meta.prompts.map((p) => p.id), meta.files, subject);
    const byPrompt: Record<string, MetricsReport["metrics"]> = {};
    for (const p of meta.prompts) byPrompt[p.id] = (await subsetMetrics(sets, evaluator, [p.id], meta.files, subject))!.metrics;
    return {
      identitySimilarity: subjectSide?.metrics.identitySimilarity ?? null,
      identityAgreement: subjectSide?.metrics.identityAgreement ?? null,
      promptFidelity: attribute?.metrics.promptFidelity ?? null,
      classDiversity: cls?.metrics.diversity ?? null,
      classSubjectSimilarity: cls?.metrics.identitySimilarity ?? null,
      luminanceRange: all!.metrics.luminanceRange,
      luminanceMean: all!.metrics.luminanceMean,
      byPrompt,
    };
  } finally {
    for (const v of ev.params.values()) v.dispose();
  }
}

const COLUMNS: [string, string, (m: RunMetrics) => Estimate | null][] = [
  ["identitySimilarity", "identity (embedding cos) ↑", (m) => m.identitySimilarity],
  ["identityAgreement", "identity (attributes) ↑", (m) => m.identityAgreement],
  ["promptFidelity", "prompt fidelity ↑", (m) => m.promptFidelity],
  ["classDiversity", "class diversity ↑", (m) => m.classDiversity],
  ["classSubjectSimilarity", "class → subject drift ↓", (m) => m.classSubjectSimilarity],
  ["luminanceRange", "luminance range ↑", (m) => m.luminanceRange],
  ["toneContrast", "tone contrast ↑", (m) => toneContrast(m)],
];

/** A Markdown table: one row per configuration, "mean [low, high]" per metric. */
export function experimentTable(rows: { name: string; metrics: RunMetrics }[]): string {
  const fmt = formatEstimate;
  const head = `| configuration | ${COLUMNS.map(([, t]) => t).join(" | ")} |`;
  const sep = `|---|${COLUMNS.map(() => "---").join("|")}|`;
  const body = rows.map((r) => `| ${r.name} | ${COLUMNS.map(([, , get]) => fmt(get(r.metrics))).join(" | ")} |`);
  return [head, sep, ...body].join("\n") + "\n";
}

/** Every column of the table for one configuration (metric key → estimate), as `report` writes to table.json. */
export function experimentRow(m: RunMetrics): Record<string, Estimate | null> {
  return Object.fromEntries(COLUMNS.map(([k, , get]) => [k, get(m)]));
}

/**
 * The few numbers a reader compares across experiments (`dvc metrics show/diff`), each a mean: identity
 * (embedding cosine to the instance images), prompt (prompt fidelity), diversity and drift (of the class
 * prompt's samples), tone (bright minus dark backgrounds' luminance). The breakdowns stay in the full report.
 */
export function runHeadline(m: RunMetrics): Record<string, number | null> {
  const mean = (e: Estimate | null | undefined) => (e ? e.mean : null);
  return {
    identity: mean(m.identitySimilarity),
    prompt: mean(m.promptFidelity),
    diversity: mean(m.classDiversity),
    drift: mean(m.classSubjectSimilarity),
    tone: mean(toneContrast(m)),
  };
}
