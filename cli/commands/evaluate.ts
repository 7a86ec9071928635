/** `dreambooth evaluate`: score a folder of generated images with the attribute evaluator. */
import { BACKEND_OPTION, defineCommand } from "../command";
import { initBackend } from "../../lib/backend";
import { writeFileAtomic } from "../../lib/io/atomic";
import {
  computeMetrics,
  DEFAULT_EVALUATOR_DIR,
  defaultEvaluatorDir,
  Estimate,
  loadEvaluator,
  readImageSet,
  readPrompts,
  readSubject,
} from "../../lib/eval";
import { disposeParams } from "../../lib/models/init";

function fmt(name: string, e: Estimate | null): string {
  if (!e) return `  ${name.padEnd(22)} —`;
  return `  ${name.padEnd(22)} ${e.mean.toFixed(4)}  [${e.ci95[0].toFixed(4)}, ${e.ci95[1].toFixed(4)}]  N=${e.n} (${e.method})`;
}

export const command = defineCommand({
  name: "evaluate",
  summary: "identity fidelity, prompt fidelity, diversity and luminance of a folder of images (with 95 % CIs)",
  description: `Scores every PNG/JPEG/WebP image in <folder> (any common square size; resized to the evaluator's):
  identity fidelity   attribute agreement with the subject, embedding similarity to its instance images
  prompt fidelity     share of the attributes the prompt asks for that are present
  diversity           mean pairwise embedding distance (1 − cos)
  luminance           mean, 5–95th percentile range of per-image mean luma, per-pixel 5–95 range
Each metric: mean, 95 % confidence interval and N.`,
  positionals: { name: "<folder>", help: "the images", count: "one" },
  options: {
    subject: {
      type: "string",
      value: "<folder>",
      help: "instance images + metadata.json (from `dreambooth data`), for identity",
    },
    prompts: { type: "string", value: "<file.json>", help: 'one prompt for all images, or {"<file>": "<prompt>", …}' },
    out: { type: "string", value: "<file.json>", help: "write the report here too" },
    evaluator: {
      type: "string",
      value: "<folder>",
      help: `the attribute evaluator (default: ${DEFAULT_EVALUATOR_DIR})`,
    },
    seed: { type: "integer", min: 0, default: 0, help: "seed of the bootstrap intervals" },
    ...BACKEND_OPTION,
  },
  async run(o, [dir]) {
    await initBackend({ prefer: o.backend });
    const evaluatorDir = o.evaluator ?? defaultEvaluatorDir();
    const evaluator = loadEvaluator(evaluatorDir);
    try {
      const images = await readImageSet(dir);
      const subject = o.subject ? await readSubject(evaluator, o.subject) : undefined;
      const prompts = o.prompts ? readPrompts(o.prompts, images.files!) : undefined;
      const report = await computeMetrics(evaluator, images, { subject, prompts, seed: o.seed });
      console.log(`${dir}: ${report.n} images`);
      for (const [k, v] of Object.entries(report.metrics)) console.log(fmt(k, v));
      if (o.out) {
        const doc = {
          folder: dir,
          subject: o.subject ?? null,
          prompts: o.prompts ?? null,
          evaluator: evaluatorDir,
          seed: o.seed,
          ...report,
        };
        writeFileAtomic(o.out, JSON.stringify(doc, null, 2) + "\n");
        console.log(`wrote ${o.out}`);
      }
    } finally {
      disposeParams(evaluator.params);
    }
    return 0;
  },
});
