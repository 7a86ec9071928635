/** `dreambooth score`: the experiment's metrics for one folder of samples (`dreambooth report` tabulates them). */
import * as path from "path";
import { BACKEND_OPTION, defineCommand } from "../command";
import { initBackend } from "../../lib/backend";
import { evaluateRun, experimentTable, runHeadline } from "../../lib/experiment/experiment";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command = defineCommand({
  name: "score",
  summary: "score a samples folder: identity, prompt fidelity, class diversity, luminance (mean and 95% CI)",
  description: `--out gets every metric with its 95 % interval, per prompt too; --summary the headline means only
(identity, prompt, diversity, drift, tone), the file \`dvc metrics show\` tabulates.`,
  options: {
    samples: { type: "string", required: true, value: "<folder>", help: "what `dreambooth samples` wrote" },
    out: { type: "string", required: true, value: "<file.json>", help: "the full report" },
    summary: { type: "string", value: "<file.json>", help: "the headline means" },
    subject: { type: "string", value: "<folder>", default: "data", help: "the instance images (identity)" },
    evaluator: { type: "string", value: "<folder>", default: DEFAULT_EVALUATOR_DIR, help: "the attribute evaluator" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend });
    const m = await evaluateRun(o.samples, o.subject, o.evaluator);
    writeFileAtomic(o.out, JSON.stringify(m, null, 2) + "\n");
    if (o.summary) writeFileAtomic(o.summary, JSON.stringify(runHeadline(m), null, 2) + "\n");
    console.log(experimentTable([{ name: path.basename(path.resolve(o.samples)), metrics: m }]));
    return 0;
  },
});
