/** `dreambooth sample`: text-to-image with a diffusers-format folder (the embedded tiny model by default). */
import * as fs from "fs";
import * as path from "path";
import { Command, int, num, oneOf, parseArgs, str, UsageError, DEFAULT_MODEL } from "../command";
import { initBackend } from "../../lib/backend";
import { loadStableDiffusion, generate, toPng } from "../../lib/pipeline/stable-diffusion";
import { SCHEDULERS, SchedulerKind, TIMESTEP_SPACINGS, TimestepSpacing } from "../../lib/diffusion/samplers";
import { writeFileAtomic } from "../../lib/io/atomic";
import { Progress } from "../../lib/train/progress";


const usage = `usage: dreambooth sample --prompt "<text>" [--model ${DEFAULT_MODEL}] [--seed 0] [--count 1]
                        [--scheduler ${SCHEDULERS.join("|")}] [--steps 50] [--spacing ${TIMESTEP_SPACINGS.join("|")}]
                        [--guidance 7.5] [--guidance-rescale 0] [--negative-prompt ""] [--out sample.png]
                        [--backend wasm|cpu|tensorflow]

Writes --out (with --count > 1: <out>-0.png, <out>-1.png, …). The schedule and prediction type come
from the model folder's scheduler/scheduler_config.json.`;

export const command: Command = {
  name: "sample",
  summary: "generate images from a prompt with a diffusers-format model folder",
  usage,
  async run(argv) {
    const a = parseArgs(argv, ["model", "prompt", "negative-prompt", "seed", "count", "scheduler", "steps", "spacing", "guidance", "guidance-rescale", "out", "backend", "eta"]);
    const prompt = str(a, "prompt");
    if (!prompt) throw new UsageError(`--prompt is required\n${usage}`);
    const model = str(a, "model", DEFAULT_MODEL)!;
    if (!fs.existsSync(model)) throw new UsageError(`model folder ${model} not found: pass --model <diffusers folder> (the embedded model is ${DEFAULT_MODEL})`);
    const scheduler = oneOf<SchedulerKind>(a, "scheduler", SCHEDULERS, "ddim");
    const spacing = oneOf<TimestepSpacing>(a, "spacing", TIMESTEP_SPACINGS, "trailing");
    const count = int(a, "count", 1)!;
    const out = str(a, "out", "sample.png")!;
    await initBackend({ prefer: str(a, "backend") });
    const sd = loadStableDiffusion(model);
    try {
      const t0 = Date.now();
      let progress: Progress | undefined;
      const images = await generate(sd, {
        prompt,
        negativePrompt: str(a, "negative-prompt", ""),
        count,
        seed: int(a, "seed", 0)!,
        scheduler,
        steps: int(a, "steps", 50),
        spacing,
        guidance: num(a, "guidance", 7.5),
        guidanceRescale: num(a, "guidance-rescale", 0),
        eta: num(a, "eta"),
        onStep: (i, n) => (progress ??= new Progress({ label: "sampling", total: n })).tick(i),
      });
      const files: string[] = [];
      for (let i = 0; i < count; i++) {
        const file = count === 1 ? out : out.replace(/(\.png)?$/, `-${i}.png`);
        fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
        writeFileAtomic(file, await toPng(images, i));
        files.push(file);
      }
      images.dispose();
      console.log(`wrote ${files.join(", ")} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return 0;
    } finally {
      sd.dispose();
    }
  },
};
