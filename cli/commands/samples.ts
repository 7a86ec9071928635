/** `dreambooth samples`: the experiment's fixed prompts × seeds from one model folder. */
import { Command, int, num, parseArgs, str } from "../command";
import { initBackend } from "../../lib/backend";
import { EXPERIMENT_PROMPTS, sampleRun } from "../../lib/experiment/experiment";
import { SchedulerKind, TimestepSpacing } from "../../lib/diffusion/samplers";

const usage = `usage: dreambooth samples --model <folder> --out <folder> [--seeds 8] [--steps 30] [--guidance 5]
                         [--guidance-rescale 0] [--scheduler ddim] [--spacing trailing] [--seed 0] [--resolution px]
                         [--workers N] [--backend …]

Writes <out>/<prompt>/seed-NNN.png for each of the experiment's prompts (${EXPERIMENT_PROMPTS.map((p) => p.id).join(", ")})
and <out>/prompts.json. The same seeds give every model the same starting noise. --workers: threads
that sample (default: every core on wasm and cpu, 0 = this process on a GPU backend); any number
gives the same bytes. --resolution: the images' side in pixels (default: the model's own).`;

export const command: Command = {
  name: "samples",
  summary: "sample a model with the experiment's prompts and seeds",
  usage,
  async run(argv) {
    const a = parseArgs(argv, ["model", "out", "seeds", "steps", "guidance", "guidance-rescale", "scheduler", "spacing", "seed", "resolution", "workers", "backend"]);
    await initBackend({ prefer: str(a, "backend") });
    const t0 = Date.now();
    const n = await sampleRun({
      model: str(a, "model") ?? (() => { throw new Error("--model is required"); })(),
      out: str(a, "out") ?? (() => { throw new Error("--out is required"); })(),
      prompts: EXPERIMENT_PROMPTS,
      seeds: int(a, "seeds", 8)!,
      steps: int(a, "steps", 30)!,
      guidance: num(a, "guidance", 5)!,
      guidanceRescale: num(a, "guidance-rescale", 0)!,
      scheduler: str(a, "scheduler", "ddim") as SchedulerKind,
      spacing: str(a, "spacing", "trailing") as TimestepSpacing,
      seed: int(a, "seed", 0)!,
      resolution: int(a, "resolution"),
      workers: int(a, "workers"),
    });
    console.log(`wrote ${n} samples in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
