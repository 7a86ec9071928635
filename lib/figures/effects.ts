/** paper-figures/effects: the paired effects of the comparison as a forest plot, one panel per measure. */
import * as fs from "fs";
import * as path from "path";
import { forestSvg, type ForestPanel } from "../plot/forest";
import { svgToPng } from "../plot/render";
import { writeFileAtomic } from "../io/atomic";
import { configLabel, type Effect } from "../experiment/compare";
import { CLAIMS } from "../experiment/claims";
import { MEASURES } from "../experiment/measures";

/** Reads the comparison's effects.json and writes effects.png and effects.json (the rows drawn) into `out`. */
export async function effectsFigure(effectsFile: string, out: string): Promise<string[]> {
  if (!fs.existsSync(effectsFile))
    throw new Error(`${effectsFile} is missing: run \`dreambooth compare\` (the compare stage) first`);
  const effects = JSON.parse(fs.readFileSync(effectsFile, "utf8")) as Effect[];
  const claimed = new Set(CLAIMS.map((c) => `${c.a}|${c.b}|${c.measure}`));
  const panels: ForestPanel[] = MEASURES.map((m) => ({
    title: m.label,
    rows: effects
      .filter((e) => e.measure === m.id)
      .map((e) => ({
        label: `${configLabel(e.a)} − ${configLabel(e.b)}`,
        mean: e.estimate.mean,
        ci95: e.estimate.ci95,
        emphasis: claimed.has(`${e.a}|${e.b}|${e.measure}`),
      })),
  })).filter((p) => p.rows.length > 0);
  const seeds = effects[0]?.perSeed.length ?? 0;
  const svg = forestSvg("Paired effects: configuration − reference, mean and 95 % CI", panels, {
    note: `${seeds} training seeds per configuration; images paired by prompt and sampling seed; bold: a claim rests on it; blue: the interval leaves out 0.`,
  });
  fs.mkdirSync(out, { recursive: true });
  const png = path.join(out, "effects.png");
  const json = path.join(out, "effects.json");
  writeFileAtomic(png, await svgToPng(svg));
  writeFileAtomic(json, JSON.stringify(panels, null, 2) + "\n");
  return [png, json];
}
