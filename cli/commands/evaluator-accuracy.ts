/** `dreambooth evaluator-accuracy`: the committed (or any) evaluator's per-attribute accuracy on held-out renders. */
import { bool, Command, int, parseArgs, str, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { IDENTITY_ATTRIBUTES } from "../../lib/data/attributes";
import { attributeAccuracy, DEFAULT_EVALUATOR_DIR, loadEvaluator, renderLabelledFaces } from "../../lib/eval";
import { wilsonCI } from "../../lib/eval/stats";
import { disposeParams } from "../../lib/models/init";

const usage = `usage: dreambooth evaluator-accuracy [--evaluator ${DEFAULT_EVALUATOR_DIR}] [--test 1000] [--seed 0] [--json]
                                    [--backend wasm|cpu|auto]

Renders the first --test faces of the test split of dataset seed --seed (faces the evaluator never
trained on) and prints its accuracy on every attribute with a 95 % Wilson interval, and whether each
identity attribute reaches the 95 % target. --json prints the same as JSON.`;

export const command: Command = {
  name: "evaluator-accuracy",
  summary: "print the attribute evaluator's held-out accuracy per attribute, with 95 % intervals",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["evaluator", "test", "seed", "backend"], ["json"]);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"\n${usage}`);
    const testN = int(args, "test", 1000)!;
    const seed = int(args, "seed", 0)!;
    if (testN < 1) throw new UsageError(`--test must be at least 1 (got ${testN})`);
    if (seed < 0) throw new UsageError(`--seed must be non-negative (got ${seed})`);
    await initBackend({ prefer: str(args, "backend"), log: bool(args, "json") ? () => {} : undefined });
    const ev = loadEvaluator(str(args, "evaluator", DEFAULT_EVALUATOR_DIR)!);
    try {
      const faces = await renderLabelledFaces({ split: "test", count: testN, seed });
      const acc = await attributeAccuracy(ev.params, faces, ev.config.model);
      const rows = acc.map((a) => {
        const e = wilsonCI(a.correct, a.scored);
        const identity = (IDENTITY_ATTRIBUTES as readonly string[]).includes(a.attribute);
        return { attribute: a.attribute, correct: a.correct, scored: a.scored, accuracy: e.mean, ci95: e.ci95, identity, meetsTarget: identity ? e.mean >= 0.95 : null };
      });
      if (bool(args, "json")) {
        console.log(JSON.stringify({ faces: testN, datasetSeed: seed, split: "test", attributes: rows }, null, 2));
        return 0;
      }
      const pct = (x: number) => (100 * x).toFixed(1);
      console.log(`held-out accuracy on ${testN} test-split faces (dataset seed ${seed}), 95 % Wilson interval:`);
      for (const r of rows) {
        const mark = r.identity ? (r.meetsTarget ? "  ≥ 95 %" : "  below the 95 % target") : "  (not an identity attribute)";
        console.log(`  ${r.attribute.padEnd(12)} ${pct(r.accuracy).padStart(5)} %  [${pct(r.ci95[0])}, ${pct(r.ci95[1])}]  (${r.correct}/${r.scored})${mark}`);
      }
      const below = rows.filter((r) => r.identity && !r.meetsTarget).map((r) => r.attribute);
      console.log(below.length ? `identity attributes below 95 %: ${below.join(", ")}` : "every identity attribute reaches 95 %");
      return 0;
    } finally {
      disposeParams(ev.params);
    }
  },
};
