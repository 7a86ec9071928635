/** `dreambooth samples`: the experiment's fixed prompts × seeds from one model folder. */
import { BACKEND_OPTION, defineCommand, WORKERS_OPTION } from "../command";
import { initBackend } from "../../lib/backend";
import { EXPERIMENT_PROMPTS, sampleRun } from "../../lib/experiment/experiment";
import { SCHEDULERS, TIMESTEP_SPACINGS } from "../../lib/diffusion/samplers";

export const command = defineCommand({
  name: "samples",
  summary: "sample a model with the experiment's prompts and seeds",
  description: `Writes <out>/<prompt>/seed-NNN.png for each of the experiment's prompts (${EXPERIMENT_PROMPTS.map((p) => p.id).join(", ")})
and <out>/prompts.json. The same seeds give every model the same starting noise.`,
  options: {
    model: {
      type: "string",
      required: true,
      value: "<folder>",
      help: "a diffusers model folder (a base model or a fine-tuning)",
    },
    out: { type: "string", required: true, value: "<folder>", help: "where the samples go (replaced)" },
    seeds: { type: "integer", min: 1, param: "samples.seeds", help: "sampling seeds per prompt" },
    steps: { type: "integer", min: 1, param: "samples.steps", help: "sampling steps" },
    guidance: { type: "number", param: "samples.guidance", help: "classifier-free guidance scale" },
    "guidance-rescale": {
      type: "number",
      min: 0,
      max: 1,
      param: "samples.guidance_rescale",
      help: "guidance rescale φ",
    },
    scheduler: { type: "string", choices: SCHEDULERS, default: "ddim", help: "sampler" },
    spacing: {
      type: "string",
      choices: TIMESTEP_SPACINGS,
      default: "trailing",
      help: "which timesteps the steps visit",
    },
    seed: { type: "integer", min: 0, param: "samples.seed", help: "run seed: each image's noise is (seed, prompt, k)" },
    resolution: { type: "integer", min: 8, value: "<px>", help: "image side (default: the model's own)" },
    ...WORKERS_OPTION,
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend });
    const t0 = Date.now();
    const n = await sampleRun({
      model: o.model,
      out: o.out,
      prompts: EXPERIMENT_PROMPTS,
      seeds: o.seeds,
      steps: o.steps,
      guidance: o.guidance,
      guidanceRescale: o.guidanceRescale,
      scheduler: o.scheduler,
      spacing: o.spacing,
      seed: o.seed,
      resolution: o.resolution,
      workers: o.workers,
    });
    console.log(`wrote ${n} samples in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
});
