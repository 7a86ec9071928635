/** `dreambooth report`: the experiment table (Markdown + JSON) from the score files of several configurations. */
import * as fs from "fs";
import { Command, parseArgs, str, UsageError } from "../command";
import { experimentRow, experimentTable, RunMetrics } from "../../lib/experiment/experiment";
import { experimentFindings, findingsMarkdown } from "../../lib/experiment/findings";
import { writeFileAtomic } from "../../lib/io/atomic";

export const command: Command = {
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
