/** `dreambooth score`: the experiment's metrics for one folder of samples (`dreambooth report` tabulates them). */
import * as path from "path";
import { Command, parseArgs, str, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { evaluateRun, experimentTable, runHeadline } from "../../lib/experiment/experiment";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command: Command = {
  name: "score",
  summary: "score a samples folder: identity, prompt fidelity, class diversity, luminance (mean and 95% CI)",
  usage: `usage: dreambooth score --samples <folder> --out <report.json> [--summary <metrics.json>] [--subject data]
                       [--evaluator ${DEFAULT_EVALUATOR_DIR}] [--backend …]

--out: every metric with its 95 % interval, per prompt too; --summary: the headline means only (identity,
prompt, diversity, drift, tone), the file \`dvc metrics show\` tabulates.`,
  async run(argv) {
    const a = parseArgs(argv, ["samples", "out", "summary", "subject", "evaluator", "backend"]);
    const samples = str(a, "samples");
    const out = str(a, "out");
    if (!samples || !out) throw new UsageError("--samples and --out are required");
    await initBackend({ prefer: str(a, "backend") });
    const m = await evaluateRun(samples, str(a, "subject", "data")!, str(a, "evaluator", DEFAULT_EVALUATOR_DIR)!);
    writeFileAtomic(out, JSON.stringify(m, null, 2) + "\n");
    const summary = str(a, "summary");
    if (summary) writeFileAtomic(summary, JSON.stringify(runHeadline(m), null, 2) + "\n");
    console.log(experimentTable([{ name: path.basename(path.resolve(samples)), metrics: m }]));
    return 0;
  },
};
