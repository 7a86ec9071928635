/** `dreambooth base-eval`: prompt following and class diversity of a base model (the pretraining's numbers). */
import { Command, int, num, parseArgs, str, DEFAULT_MODEL } from "../command";
import { initBackend } from "../../lib/backend";
import { baseModelHeadline, evaluateBaseModel } from "../../lib/experiment/base-model";
import { writeFileAtomic } from "../../lib/io/atomic";
import { DEFAULT_EVALUATOR_DIR } from "../../lib/eval/weights";

export const command: Command = {
  name: "base-eval",
  summary: "prompt following on held-out captions and class-prompt diversity of a base model",
  usage: `usage: dreambooth base-eval [--model ${DEFAULT_MODEL}] [--test datasets/faces/test.pack] [--count 200] [--class-count 32]
                           [--steps 30] [--guidance 5] [--seed 0] [--out metrics/base-model.json] [--summary <metrics.json>]
                           [--evaluator ${DEFAULT_EVALUATOR_DIR}] [--workers N] [--backend …]

--out: the full report (per attribute, with what the misses showed); --summary: the headline shares only.

--workers: threads that sample (default: every core on wasm and cpu, 0 = this process on a GPU
backend); any number gives the same report.`,
  async run(argv) {
    const a = parseArgs(argv, ["model", "test", "count", "class-count", "steps", "guidance", "seed", "out", "summary", "evaluator", "workers", "backend"]);
    await initBackend({ prefer: str(a, "backend") });
    const t0 = Date.now();
    const r = await evaluateBaseModel({
      model: str(a, "model", DEFAULT_MODEL)!,
      testPack: str(a, "test", "datasets/faces/test.pack")!,
      evaluatorDir: str(a, "evaluator", DEFAULT_EVALUATOR_DIR)!,
      count: int(a, "count", 200)!,
      classCount: int(a, "class-count", 32)!,
      steps: int(a, "steps", 30)!,
      guidance: num(a, "guidance", 5)!,
      seed: int(a, "seed", 0)!,
      workers: int(a, "workers"),
    });
    const out = str(a, "out", "metrics/base-model.json")!;
    writeFileAtomic(out, JSON.stringify(r, null, 2) + "\n");
    const summary = str(a, "summary");
    if (summary) writeFileAtomic(summary, JSON.stringify(baseModelHeadline(r), null, 2) + "\n");
    const pct = (e: { mean: number; ci95: [number, number] }) => `${(100 * e.mean).toFixed(1)}% [${(100 * e.ci95[0]).toFixed(1)}, ${(100 * e.ci95[1]).toFixed(1)}]`;
    console.log(`prompt following on ${r.prompts} held-out captions: ${pct(r.promptFollowing)} of prompted attributes present (the real renders score ${pct(r.promptFollowingCeiling)}, through the autoencoder ${pct(r.promptFollowingAutoencoder)})`);
    for (const [k, v] of Object.entries(r.byAttribute)) console.log(`  ${k.padEnd(12)} asked ${String(v.asked).padStart(4)}  samples ${(100 * v.samples / v.asked).toFixed(0).padStart(3)}%  renders ${(100 * v.renders / v.asked).toFixed(0).padStart(3)}%  autoencoded ${(100 * v.reconstructions / v.asked).toFixed(0).padStart(3)}%${missLine(v.misses)}`);
    if (r.classDiversity) console.log(`class-prompt diversity: ${r.classDiversity.mean.toFixed(3)} [${r.classDiversity.ci95[0].toFixed(3)}, ${r.classDiversity.ci95[1].toFixed(3)}]`);
    console.log(`wrote ${out} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return 0;
  },
};

/** The commonest misses, "  missed: glasses → none 9, glasses → goggles 4" (empty when every sample hit). */
function missLine(misses: Record<string, number>): string {
  const top = Object.entries(misses).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
  return top.length ? `  missed: ${top.map(([k, n]) => `${k} ${n}`).join(", ")}` : "";
}
