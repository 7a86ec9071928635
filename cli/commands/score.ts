/** `dreambooth score`: the experiment's metrics for one folder of samples; `dreambooth report` tabulates them. */
import * as fs from "fs";
import * as path from "path";
import { Command, parseArgs, str, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { evaluateRun, experimentRow, experimentTable, RunMetrics } from "../../lib/experiment/experiment";
import { experimentFindings, findingsMarkdown } from "../../lib/experiment/findings";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command: Command = {
  name: "score",
  summary: "score a samples folder: identity, prompt fidelity, class diversity, luminance (mean and 95% CI)",
  usage: `usage: dreambooth score --samples <folder> --out <metrics.json> [--subject data] [--evaluator ${DEFAULT_EVALUATOR_DIR}] [--backend …]`,
  async run(argv) {
    const a = parseArgs(argv, ["samples", "out", "subject", "evaluator", "backend"]);
    const samples = str(a, "samples");
    const out = str(a, "out");
    if (!samples || !out) throw new UsageError("--samples and --out are required");
    await initBackend({ prefer: str(a, "backend") });
    const m = await evaluateRun(samples, str(a, "subject", "data")!, str(a, "evaluator", DEFAULT_EVALUATOR_DIR)!);
    writeFileAtomic(out, JSON.stringify(m, null, 2) + "\n");
    console.log(experimentTable([{ name: path.basename(path.resolve(samples)), metrics: m }]));
    return 0;
  },
};

export const report: Command = {
  name: "report",
  summary: "the experiment table (Markdown + JSON) from several score files",
  usage: "usage: dreambooth report --out <table.md> <name>=<metrics.json> ...",
  async run(argv) {
    const a = parseArgs(argv, ["out"]);
    const out = str(a, "out");
    if (!out || a.positional.length === 0) throw new UsageError(this.usage);
    const rows = a.positional.map((p) => {
      const eq = p.indexOf("=");
      if (eq < 1) throw new UsageError(`"${p}" is not <name>=<metrics.json>`);
      const file = p.slice(eq + 1);
      if (!fs.existsSync(file)) throw new UsageError(`${file} not found: run \`dreambooth score\` for ${p.slice(0, eq)} first`);
      return { name: p.slice(0, eq), metrics: JSON.parse(fs.readFileSync(file, "utf8")) as RunMetrics };
    });
    const findings = findingsMarkdown(experimentFindings(Object.fromEntries(rows.map((r) => [r.name, r.metrics]))));
    const table = experimentTable(rows) + findings;
    writeFileAtomic(out, table);
    const json = Object.fromEntries(rows.map((r) => [r.name, { ...experimentRow(r.metrics), luminanceMean: r.metrics.luminanceMean }]));
    writeFileAtomic(out.replace(/\.md$/, "") + ".json", JSON.stringify(json, null, 2) + "\n");
    console.log(table);
    return 0;
  },
};
