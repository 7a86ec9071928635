/** `dreambooth sample`: text-to-image with a diffusers-format folder (the embedded tiny model by default). */
import * as fs from "fs";
import * as path from "path";
import { BACKEND_OPTION, defineCommand, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { loadStableDiffusion, generate, toPng } from "../../lib/pipeline/stable-diffusion";
import { SCHEDULERS, TIMESTEP_SPACINGS } from "../../lib/diffusion/samplers";
import { writeFileAtomic } from "../../lib/io/atomic";
import { Progress } from "../../lib/train/progress";

export const command = defineCommand({
  name: "sample",
  summary: "generate images from a prompt with a diffusers-format model folder",
  description: `Writes --out (with --count > 1: <out>-0.png, <out>-1.png, …). The schedule and prediction type come
from the model folder's scheduler/scheduler_config.json.`,
  options: {
    prompt: { type: "string", required: true, value: '"<text>"', help: "what to draw" },
    "negative-prompt": { type: "string", default: "", help: "what to steer away from (classifier-free guidance)" },
    model: { type: "string", value: "<folder>", param: "base.model", help: "a diffusers Stable Diffusion 1.x folder" },
    seed: { type: "integer", min: 0, default: 0, help: "noise seed" },
    count: { type: "integer", min: 1, default: 1, help: "images" },
    scheduler: { type: "string", choices: SCHEDULERS, default: "ddim", help: "sampler" },
    steps: { type: "integer", min: 1, default: 50, help: "sampling steps" },
    spacing: {
      type: "string",
      choices: TIMESTEP_SPACINGS,
      default: "trailing",
      help: "which timesteps the steps visit",
    },
    guidance: { type: "number", default: 7.5, help: "classifier-free guidance scale" },
    "guidance-rescale": {
      type: "number",
      min: 0,
      max: 1,
      default: 0,
      help: "rescale the guided prediction's std (Lin et al. 2023)",
    },
    eta: { type: "number", min: 0, help: "DDIM η (0: deterministic)" },
    resolution: { type: "integer", min: 8, value: "<px>", help: "image side (default: the model's own)" },
    out: { type: "string", value: "<file.png>", default: "sample.png", help: "where to write" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    if (!fs.existsSync(o.model))
      throw new UsageError(`model folder ${o.model} not found: pass --model <diffusers folder>`);
    await initBackend({ prefer: o.backend });
    const sd = loadStableDiffusion(o.model);
    try {
      const t0 = Date.now();
      let progress: Progress | undefined;
      const images = await generate(sd, {
        prompt: o.prompt,
        negativePrompt: o.negativePrompt,
        count: o.count,
        seed: o.seed,
        scheduler: o.scheduler,
        steps: o.steps,
        spacing: o.spacing,
        guidance: o.guidance,
        guidanceRescale: o.guidanceRescale,
        eta: o.eta,
        size: o.resolution,
        onStep: (i, n) => (progress ??= new Progress({ label: "sampling", total: n })).tick(i),
      });
      const files: string[] = [];
      for (let i = 0; i < o.count; i++) {
        const file = o.count === 1 ? o.out : o.out.replace(/(\.png)?$/, `-${i}.png`);
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
});
