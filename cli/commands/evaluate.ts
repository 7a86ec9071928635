/** `dreambooth evaluate`: score a folder of generated images with the attribute evaluator. */
import { Command, int, parseArgs, str, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { writeFileAtomic } from "../../lib/io/atomic";
import { computeMetrics, DEFAULT_EVALUATOR_DIR, defaultEvaluatorDir, Estimate, loadEvaluator, readImageSet, readPrompts, readSubject } from "../../lib/eval";
import { disposeParams } from "../../lib/models/init";

const usage = `usage: dreambooth evaluate <folder> [--subject data/instance] [--prompts <json>] [--out metrics.json]
                          [--evaluator ${DEFAULT_EVALUATOR_DIR}] [--seed S] [--backend wasm|cpu|auto]

Scores every PNG/JPEG/WebP image in <folder> (any common square size; resized to the evaluator's):
  identity fidelity   attribute agreement with the subject, embedding similarity to its instance images
  prompt fidelity     share of the attributes the prompt asks for that are present
  diversity           mean pairwise embedding distance (1 − cos)
  luminance           mean, 5–95th percentile range of per-image mean luma, per-pixel 5–95 range
Each metric: mean, 95 % confidence interval and N. --prompts is a JSON file: a string (one prompt for
all images) or {"<file>": "<prompt>", …} naming every image. --subject is the instance folder written
by \`dreambooth data\` (images + metadata.json). --seed seeds the bootstrap intervals (default 0).`;

function fmt(name: string, e: Estimate | null): string {
  if (!e) return `  ${name.padEnd(22)} —`;
  return `  ${name.padEnd(22)} ${e.mean.toFixed(4)}  [${e.ci95[0].toFixed(4)}, ${e.ci95[1].toFixed(4)}]  N=${e.n} (${e.method})`;
}

export const command: Command = {
  name: "evaluate",
  summary: "identity fidelity, prompt fidelity, diversity and luminance of a folder of images (with 95 % CIs)",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["subject", "prompts", "out", "evaluator", "seed", "backend"]);
    if (args.positional.length !== 1) throw new UsageError(`expected one image folder, got ${args.positional.length} arguments\n${usage}`);
    const dir = args.positional[0];
    const seed = int(args, "seed", 0)!;
    await initBackend({ prefer: str(args, "backend") });
    const evaluatorDir = str(args, "evaluator") ?? defaultEvaluatorDir();
    const evaluator = loadEvaluator(evaluatorDir);
    try {
      const images = await readImageSet(dir);
      const subjectDir = str(args, "subject");
      const subject = subjectDir ? await readSubject(evaluator, subjectDir) : undefined;
      const promptsFile = str(args, "prompts");
      const prompts = promptsFile ? readPrompts(promptsFile, images.files!) : undefined;
      const report = await computeMetrics(evaluator, images, { subject, prompts, seed });
      const m = report.metrics;
      console.log(`${dir}: ${report.n} images`);
      for (const [k, v] of Object.entries(m)) console.log(fmt(k, v));
      const out = str(args, "out");
      if (out) {
        const doc = { folder: dir, subject: subjectDir ?? null, prompts: promptsFile ?? null, evaluator: evaluatorDir, seed, ...report };
        writeFileAtomic(out, JSON.stringify(doc, null, 2) + "\n");
        console.log(`wrote ${out}`);
      }
    } finally {
      disposeParams(evaluator.params);
    }
    return 0;
  },
};
