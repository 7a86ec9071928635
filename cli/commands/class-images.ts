/** `dreambooth class-images`: the base model's images for the class prompt (prior preservation), cached. */
import { BACKEND_OPTION, defineCommand, WORKERS_OPTION } from "../command";
import { initBackend } from "../../lib/backend";
import { generateClassImages } from "../../lib/dreambooth/train";

export const command = defineCommand({
  name: "class-images",
  summary: "generate (or reuse) the class images for prior preservation",
  description: `Generates --count images for the class prompt (the paper: 200) into --out, with metadata.json; does
nothing when the folder already holds them for the same model, prompt, count, seed and sampler.`,
  options: {
    model: { type: "string", value: "<folder>", param: "base.model", help: "the base model" },
    prompt: { type: "string", value: '"<text>"', param: "class_images.prompt", help: "the class prompt" },
    count: { type: "integer", min: 1, param: "class_images.count", help: "images" },
    out: { type: "string", value: "<folder>", default: "runs/class-images", help: "where they go" },
    seed: { type: "integer", min: 0, param: "class_images.seed", help: "noise seed" },
    steps: { type: "integer", min: 1, param: "class_images.steps", help: "sampling steps (DDIM, trailing)" },
    guidance: { type: "number", param: "class_images.guidance", help: "classifier-free guidance scale" },
    resolution: { type: "integer", min: 8, value: "<px>", help: "image side (default: the model's own)" },
    ...WORKERS_OPTION,
    ...BACKEND_OPTION,
  },
  async run(o) {
    await initBackend({ prefer: o.backend });
    const t0 = Date.now();
    const r = await generateClassImages({
      model: o.model,
      prompt: o.prompt,
      count: o.count,
      out: o.out,
      seed: o.seed,
      steps: o.steps,
      guidance: o.guidance,
      resolution: o.resolution,
      workers: o.workers,
    });
    const verb = r.generated ? "generated" : "reused";
    console.log(`${verb} ${r.files.length} class images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
});
