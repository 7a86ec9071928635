/**
 * The paper's four-way experiment: its prompts, and every model sampled with the same prompts and the
 * same seeds (so the same starting noise), which lets the comparison pair their images
 * (lib/experiment/scores scores them, lib/experiment/compare compares them).
 */
import * as fs from "fs";
import * as path from "path";
import { imagePng } from "../pipeline/stable-diffusion";
import { ImageGenerator } from "../pipeline/generator";
import { writeFileAtomic } from "../io/atomic";
import type { SchedulerKind, TimestepSpacing } from "../diffusion/samplers";
import { Progress } from "../train/progress";

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
  {
    id: "paper",
    prompt: "a photo of sks person without mustache, handsome, ultra realistic, 4k, 8k",
    role: "attribute",
  },
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
    const progress = new Progress({
      label: `samples${generator.workers > 1 ? ` (${generator.workers} workers)` : ""}`,
      total: o.prompts.length * o.seeds,
    });
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
  for (const p of o.prompts)
    for (let k = 0; k < o.seeds; k++) files[`${p.id}/seed-${String(k).padStart(3, "0")}.png`] = p.prompt;
  writeFileAtomic(
    path.join(o.out, "prompts.json"),
    JSON.stringify({ prompts: o.prompts, files, settings: { ...settings, out: undefined } }, null, 2) + "\n",
  );
  return n;
}
