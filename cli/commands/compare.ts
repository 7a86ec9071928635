/** `dreambooth compare`: the four-way comparison's table, paired effects and one verdict per claim. */
import * as fs from "fs";
import * as path from "path";
import { defineCommand, UsageError } from "../command";
import { allEffects, configTable, type ScoredModel } from "../../lib/experiment/compare";
import { claimsMarkdown, judgeClaims, tableMarkdown } from "../../lib/experiment/claims";
import { type MeasureId, type ScoreFile } from "../../lib/experiment/measures";
import { resultStatements } from "../../lib/experiment/statements";
import { FINE_TUNE_NAMES } from "../../lib/dreambooth/configs";
import { writeFileAtomic } from "../../lib/io/atomic";

export const command = defineCommand({
  name: "compare",
  summary: "compare the fine-tunings: table, paired effects, and a verdict per claim of the paper",
  description: `Reads <scores>/base.json and <scores>/<configuration>/<seed>.json for every configuration and training
seed, and writes into --out: table.md/.json (each configuration's measures with 95 % intervals and n),
effects.json (every paired effect), claims.md/.json (a verdict per claim, and the seeds that would resolve
it), and <configuration>.json (its headline means, for \`dvc metrics show\`).`,
  options: {
    scores: { type: "string", value: "<folder>", default: "runs/scores", help: "what `dreambooth score` wrote" },
    seeds: {
      type: "string",
      param: "dreambooth.train_seeds",
      value: '"0 1 2"',
      help: "the training seeds, separated by spaces or commas",
    },
    out: { type: "string", value: "<folder>", default: "metrics", help: "where the results go" },
  },
  async run(o) {
    const seeds = o.seeds
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(Number);
    if (seeds.length < 2 || seeds.some((s) => !Number.isInteger(s) || s < 0)) {
      throw new UsageError(`--seeds must list at least two training seeds, whole numbers ≥ 0 (got "${o.seeds}")`);
    }
    const read = (file: string): ScoreFile => {
      if (!fs.existsSync(file))
        throw new UsageError(
          `${file} is missing: score those samples first (dreambooth score, or the pipeline's score stages)`,
        );
      return JSON.parse(fs.readFileSync(file, "utf8")) as ScoreFile;
    };
    const models: ScoredModel[] = [{ config: "base", seed: null, scores: read(path.join(o.scores, "base.json")) }];
    for (const config of FINE_TUNE_NAMES)
      for (const seed of seeds)
        models.push({ config, seed, scores: read(path.join(o.scores, config, `${seed}.json`)) });
    const rows = configTable(models);
    const effects = allEffects(models);
    const claims = judgeClaims(effects);
    const base = models[0].scores;
    const prompts = Object.keys(base.roles).length;
    const samplingSeeds = new Set(base.images.map((i) => i.seed)).size;
    const json = (x: unknown) => JSON.stringify(x, null, 2) + "\n";
    fs.mkdirSync(o.out, { recursive: true });
    writeFileAtomic(path.join(o.out, "table.md"), tableMarkdown(rows));
    writeFileAtomic(path.join(o.out, "table.json"), json(rows));
    writeFileAtomic(path.join(o.out, "effects.json"), json(effects));
    writeFileAtomic(
      path.join(o.out, "claims.md"),
      claimsMarkdown(
        claims,
        effects,
        { seeds: seeds.length, prompts, samplingSeeds },
        resultStatements({ claims, effects, table: rows }),
      ),
    );
    writeFileAtomic(path.join(o.out, "claims.json"), json(claims));
    for (const r of rows) {
      const head = Object.fromEntries(
        Object.entries(HEADLINE).map(([id, key]) => [key, r.estimates[id as MeasureId]?.mean ?? null]),
      );
      writeFileAtomic(path.join(o.out, `${r.config}.json`), json(head));
    }
    for (const c of claims)
      console.log(
        `${c.verdict.padEnd(13)} ${c.claim.id.padEnd(18)} ${c.effect.mean.toFixed(4)} [${c.effect.ci95.map((x) => x.toFixed(4)).join(", ")}]`,
      );
    console.log(
      `wrote ${o.out}/{table,effects,claims}.{md,json} and the headline of ${rows.length} configurations (${models.length} models)`,
    );
    return 0;
  },
});

/**
 * The measures `dvc metrics show` tabulates per configuration, by the short names its columns get (the rest
 * stay in table.json): with the base model's two, the table fits 120 columns.
 */
const HEADLINE: Partial<Record<MeasureId, string>> = {
  identity: "identity",
  prompt: "prompt",
  sharpness: "sharp",
  dark: "dark",
  tone: "tone",
  drift: "drift",
  diversity: "diversity",
};
