/** `dreambooth evaluator-accuracy`: the committed (or any) evaluator's per-attribute accuracy on held-out renders. */
import { BACKEND_OPTION, defineCommand } from "../command";
import { initBackend } from "../../lib/backend";
import { IDENTITY_ATTRIBUTES } from "../../lib/data/attributes";
import { attributeAccuracy, DEFAULT_EVALUATOR_DIR, loadEvaluator, renderLabelledFaces } from "../../lib/eval";
import { wilsonCI } from "../../lib/eval/stats";
import { disposeParams } from "../../lib/models/init";
import type { Params } from "../../lib/models/params";
import type { EvaluatorConfig } from "../../lib/eval/model";

export interface AccuracyRow {
  attribute: string;
  correct: number;
  scored: number;
  accuracy: number;
  ci95: [number, number];
  identity: boolean;
  /** identity attributes: accuracy ≥ 95 % (the target); null for the others */
  meetsTarget: boolean | null;
}

/** Accuracy of `params` on every attribute of the first `count` test-split faces of dataset `seed`, with Wilson intervals. */
export async function heldOutAccuracy(
  params: Params,
  cfg: EvaluatorConfig,
  count: number,
  seed: number,
): Promise<AccuracyRow[]> {
  const faces = await renderLabelledFaces({ split: "test", count, seed });
  return (await attributeAccuracy(params, faces, cfg)).map((a) => {
    const e = wilsonCI(a.correct, a.scored);
    const identity = (IDENTITY_ATTRIBUTES as readonly string[]).includes(a.attribute);
    return {
      attribute: a.attribute,
      correct: a.correct,
      scored: a.scored,
      accuracy: e.mean,
      ci95: e.ci95,
      identity,
      meetsTarget: identity ? e.mean >= 0.95 : null,
    };
  });
}

/** The table `evaluator-accuracy` and `train-evaluator` print. */
export function accuracyLines(rows: AccuracyRow[], count: number, seed: number): string[] {
  const pct = (x: number) => (100 * x).toFixed(1);
  const below = rows.filter((r) => r.identity && !r.meetsTarget).map((r) => r.attribute);
  return [
    `held-out accuracy on ${count} test-split faces (dataset seed ${seed}), 95 % Wilson interval:`,
    ...rows.map((r) => {
      const mark = r.identity
        ? r.meetsTarget
          ? "  ≥ 95 %"
          : "  below the 95 % target"
        : "  (not an identity attribute)";
      return `  ${r.attribute.padEnd(12)} ${pct(r.accuracy).padStart(5)} %  [${pct(r.ci95[0])}, ${pct(r.ci95[1])}]  (${r.correct}/${r.scored})${mark}`;
    }),
    below.length ? `identity attributes below 95 %: ${below.join(", ")}` : "every identity attribute reaches 95 %",
  ];
}

export const command = defineCommand({
  name: "evaluator-accuracy",
  summary: "print the attribute evaluator's held-out accuracy per attribute, with 95 % intervals",
  description: `Renders the first --test faces of the test split of dataset seed --seed (faces the evaluator never
trained on) and prints its accuracy on every attribute with a 95 % Wilson interval, and whether each
identity attribute reaches the 95 % target.`,
  options: {
    evaluator: { type: "string", value: "<folder>", default: DEFAULT_EVALUATOR_DIR, help: "the attribute evaluator" },
    test: { type: "integer", min: 1, default: 1000, help: "held-out faces" },
    seed: { type: "integer", min: 0, default: 0, help: "dataset seed" },
    json: { type: "boolean", help: "print JSON" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend, log: o.json ? () => {} : undefined });
    const ev = loadEvaluator(o.evaluator);
    try {
      const rows = await heldOutAccuracy(ev.params, ev.config.model, o.test, o.seed);
      if (o.json)
        console.log(JSON.stringify({ faces: o.test, datasetSeed: o.seed, split: "test", attributes: rows }, null, 2));
      else for (const line of accuracyLines(rows, o.test, o.seed)) console.log(line);
      return 0;
    } finally {
      disposeParams(ev.params);
    }
  },
});
