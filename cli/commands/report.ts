/** `dreambooth report`: the experiment table (Markdown + JSON) from the score files of several configurations. */
import * as fs from "fs";
import { defineCommand, UsageError } from "../command";
import { experimentRow, experimentTable, RunMetrics } from "../../lib/experiment/experiment";
import { experimentFindings, findingsMarkdown } from "../../lib/experiment/findings";
import { writeFileAtomic } from "../../lib/io/atomic";

export const command = defineCommand({
  name: "report",
  summary: "the experiment table (Markdown + JSON) from several score files",
  description: "Writes <out> (Markdown: the table and what it says) and the same numbers as <out>.json.",
  positionals: { name: "<name>=<report.json>", help: "a configuration's name and its score file", count: "many", min: 1 },
  options: {
    out: { type: "string", required: true, value: "<table.md>", help: "the Markdown table" },
  },
  async run(o, pairs) {
    const rows = pairs.map((p) => {
      const eq = p.indexOf("=");
      if (eq < 1) throw new UsageError(`"${p}" is not <name>=<report.json>`);
      const file = p.slice(eq + 1);
      if (!fs.existsSync(file)) throw new UsageError(`${file} not found: run \`dreambooth score\` for ${p.slice(0, eq)} first`);
      return { name: p.slice(0, eq), metrics: JSON.parse(fs.readFileSync(file, "utf8")) as RunMetrics };
    });
    const findings = findingsMarkdown(experimentFindings(Object.fromEntries(rows.map((r) => [r.name, r.metrics]))));
    const table = experimentTable(rows) + findings;
    writeFileAtomic(o.out, table);
    const json = Object.fromEntries(rows.map((r) => [r.name, { ...experimentRow(r.metrics), luminanceMean: r.metrics.luminanceMean }]));
    writeFileAtomic(o.out.replace(/\.md$/, "") + ".json", JSON.stringify(json, null, 2) + "\n");
    console.log(table);
    return 0;
  },
});
