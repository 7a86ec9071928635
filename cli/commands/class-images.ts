/** `dreambooth class-images`: the base model's images for the class prompt (prior preservation), cached. */
import { Command, int, num, parseArgs, str, DEFAULT_MODEL } from "../command";
import { initBackend } from "../../lib/backend";
import { generateClassImages } from "../../lib/dreambooth/train";
import { CLASS_PROMPT } from "../../lib/data/subject";

const usage = `usage: dreambooth class-images [--model ${DEFAULT_MODEL}] [--prompt "${CLASS_PROMPT}"] [--count 200]
                              [--out runs/class-images] [--seed 0] [--steps 25] [--guidance 5] [--resolution px]
                              [--workers N] [--backend …]

Generates --count images for the class prompt (the paper: 200) into --out, with metadata.json; does
nothing when the folder already holds them for the same model, prompt, count, seed and sampler.
--workers: threads that sample (default: every core on wasm and cpu, 0 = this process on a GPU
backend); any number gives the same bytes. --resolution: the images' side in pixels (default: the model's own).`;

export const command: Command = {
  name: "class-images",
  summary: "generate (or reuse) the class images for prior preservation",
  usage,
  async run(argv) {
    const a = parseArgs(argv, ["model", "prompt", "count", "out", "seed", "steps", "guidance", "resolution", "workers", "backend"]);
    await initBackend({ prefer: str(a, "backend") });
    const t0 = Date.now();
    const r = await generateClassImages({
      model: str(a, "model", DEFAULT_MODEL)!,
      prompt: str(a, "prompt", CLASS_PROMPT)!,
      count: int(a, "count", 200)!,
      out: str(a, "out", "runs/class-images")!,
      seed: int(a, "seed", 0)!,
      steps: int(a, "steps", 25),
      guidance: num(a, "guidance", 5),
      resolution: int(a, "resolution"),
      workers: int(a, "workers"),
    });
    console.log(`${r.generated ? "generated" : "reused"} ${r.files.length} class images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
