/** `dreambooth base-eval`: prompt following and class diversity of a base model (the pretraining's numbers). */
import { BACKEND_OPTION, defineCommand, WORKERS_OPTION } from "../command";
import { initBackend } from "../../lib/backend";
import { baseModelHeadline, evaluateBaseModel } from "../../lib/experiment/base-model";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command = defineCommand({
  name: "base-eval",
  summary: "prompt following on held-out captions and class-prompt diversity of a base model",
  description: `Samples the model for held-out captions of the face dataset and asks the attribute evaluator which of
the prompted attributes each sample shows; the same for the real renders and their autoencoder round
trips (the ceilings). --out gets the full report (per attribute, with what the misses showed);
--summary only the headline shares, for \`dvc metrics show\`.`,
  options: {
    model: { type: "string", value: "<folder>", default: "models/tiny-sd", help: "the base model" },
    test: {
      type: "string",
      value: "<file.pack>",
      default: "datasets/faces/test.pack",
      help: "held-out captions and renders",
    },
    count: { type: "integer", min: 1, param: "base_eval.count", help: "captions" },
    "class-count": {
      type: "integer",
      min: 0,
      param: "base_eval.class_count",
      help: "class-prompt samples for the diversity score",
    },
    steps: { type: "integer", min: 1, param: "base_eval.steps", help: "sampling steps" },
    guidance: { type: "number", param: "base_eval.guidance", help: "classifier-free guidance scale" },
    seed: { type: "integer", min: 0, param: "base_eval.seed", help: "noise seed" },
    out: { type: "string", value: "<file.json>", default: "metrics/details/base-model.json", help: "the full report" },
    summary: { type: "string", value: "<file.json>", help: "the headline shares" },
    evaluator: { type: "string", value: "<folder>", default: DEFAULT_EVALUATOR_DIR, help: "the attribute evaluator" },
    ...WORKERS_OPTION,
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend });
    const t0 = Date.now();
    const r = await evaluateBaseModel({
      model: o.model,
      testPack: o.test,
      evaluatorDir: o.evaluator,
      count: o.count,
      classCount: o.classCount,
      steps: o.steps,
      guidance: o.guidance,
      seed: o.seed,
      workers: o.workers,
    });
    writeFileAtomic(o.out, JSON.stringify(r, null, 2) + "\n");
    if (o.summary) writeFileAtomic(o.summary, JSON.stringify(baseModelHeadline(r), null, 2) + "\n");
    const pct = (e: { mean: number; ci95: [number, number] }) =>
      `${(100 * e.mean).toFixed(1)}% [${(100 * e.ci95[0]).toFixed(1)}, ${(100 * e.ci95[1]).toFixed(1)}]`;
    console.log(
      `prompt following on ${r.prompts} held-out captions: ${pct(r.promptFollowing)} of prompted attributes present ` +
        `(the real renders score ${pct(r.promptFollowingCeiling)}, through the autoencoder ${pct(r.promptFollowingAutoencoder)})`,
    );
    const share = (n: number, of: number) => `${((100 * n) / of).toFixed(0).padStart(3)}%`;
    for (const [k, v] of Object.entries(r.byAttribute)) {
      console.log(
        `  ${k.padEnd(12)} asked ${String(v.asked).padStart(4)}  samples ${share(v.samples, v.asked)}  ` +
          `renders ${share(v.renders, v.asked)}  autoencoded ${share(v.reconstructions, v.asked)}${missLine(v.misses)}`,
      );
    }
    const d = r.classDiversity;
    if (d)
      console.log(`class-prompt diversity: ${d.mean.toFixed(3)} [${d.ci95[0].toFixed(3)}, ${d.ci95[1].toFixed(3)}]`);
    console.log(`wrote ${o.out} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return 0;
  },
});

/** The commonest misses, "  missed: glasses → none 9, glasses → goggles 4" (empty when every sample hit). */
function missLine(misses: Record<string, number>): string {
  const top = Object.entries(misses)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 3);
  return top.length ? `  missed: ${top.map(([k, n]) => `${k} ${n}`).join(", ")}` : "";
}
