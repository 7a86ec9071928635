/** `dreambooth score`: every image of one samples folder scored once, for the comparison to pair. */
import { BACKEND_OPTION, defineCommand } from "../command";
import { initBackend } from "../../lib/backend";
import { scoreSamples } from "../../lib/experiment/scores";
import { MEASURES, measureValue } from "../../lib/experiment/measures";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command = defineCommand({
  name: "score",
  summary: "score every image of a samples folder: identity, prompt fidelity, luminance, dark pixels, sharpness",
  description: `Writes one record per image (prompt, sampling seed, and its scores; the class prompt's images also
their embedding, for diversity) to --out, and prints each measure's mean. \`dreambooth compare\` pairs the
records of different models.`,
  options: {
    samples: { type: "string", required: true, value: "<folder>", help: "what `dreambooth samples` wrote" },
    out: { type: "string", required: true, value: "<file.json>", help: "the per-image scores" },
    subject: {
      type: "string",
      value: "<folder>",
      default: "data",
      help: "the instance images (identity, sharpness reference)",
    },
    evaluator: { type: "string", value: "<folder>", default: DEFAULT_EVALUATOR_DIR, help: "the attribute evaluator" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend });
    const scores = await scoreSamples(o.samples, o.subject, o.evaluator);
    writeFileAtomic(o.out, JSON.stringify(scores) + "\n");
    for (const m of MEASURES) console.log(`  ${m.id.padEnd(10)} ${measureValue(m, scores).toFixed(4)}  ${m.label}`);
    console.log(`wrote ${scores.images.length} image scores to ${o.out}`);
    return 0;
  },
});
