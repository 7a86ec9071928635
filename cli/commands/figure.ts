/** `dreambooth figure <name>`: one paper figure (PNG + the numbers behind it as JSON) per call. */
import * as path from "path";
import { Command, int, parseArgs, str, UsageError, DEFAULT_MODEL } from "../command";
import { schedulesFigure } from "../../lib/figures/schedules";
import { fig1Components, fig2Method, fig5Overview, figFolder, figSamples, table1Environment } from "../../lib/figures/paper";
import { initBackend } from "../../lib/backend";
import { EXPERIMENT_PROMPTS } from "../../lib/experiment/experiment";

const FIGURES = ["schedules", "components", "method", "instance", "class-images", "overview", "comparison", "prompts", "environment"] as const;
const CONFIGS = [
  ["linear", "linear"],
  ["linear + ZT-SNR", "linear-ztsnr"],
  ["sigmoid", "sigmoid"],
  ["sigmoid + ZT-SNR", "sigmoid-ztsnr"],
] as const;

const usage = `usage: dreambooth figure <${FIGURES.join("|")}> [--out paper-figures] [options]

  schedules     β, ᾱ, SNR of every schedule ± zero terminal SNR      [--timesteps 1000]
  components    fig1: the model's components with parameter counts   [--model ${DEFAULT_MODEL}]
  method        fig2: what the paper changes
  instance      fig3: the instance images                            [--instance data]
  class-images  fig4: class images of the base model                 [--class-dir runs/class-images]
  overview      fig5: the experiment's data flow
  comparison    fig6: the four fine-tunings × seeds, paper's prompt  [--samples runs/samples --metrics metrics --seeds 4]
  prompts       fig7: the four fine-tunings × other prompts          [--samples runs/samples --metrics metrics]
  environment   table1: CPU, GPU, memory, OS, Node, tfjs, backend`;

export const command: Command = {
  name: "figure",
  summary: "draw a paper figure with the numbers behind it",
  usage,
  async run(argv) {
    const a = parseArgs(argv, ["out", "timesteps", "model", "instance", "class-dir", "samples", "metrics", "seeds", "backend"]);
    const name = a.positional[0] as (typeof FIGURES)[number];
    if (!name || !FIGURES.includes(name)) throw new UsageError(`name a figure: one of ${FIGURES.join(", ")}\n${usage}`);
    const out = str(a, "out", "paper-figures")!;
    const samples = str(a, "samples", "runs/samples")!;
    const metrics = str(a, "metrics", "metrics")!;
    const runs = CONFIGS.map(([label, dir]) => ({ label, samples: path.join(samples, dir), metrics: path.join(metrics, `${dir}.json`) }));
    let files: string[];
    switch (name) {
      case "schedules":
        files = await schedulesFigure({ out, timesteps: int(a, "timesteps", 1000)! });
        break;
      case "components":
        files = await fig1Components(str(a, "model", DEFAULT_MODEL)!, out);
        break;
      case "method":
        files = await fig2Method(out);
        break;
      case "instance":
        files = await figFolder("fig3-instance-images", "Fig. 3: the instance images (\"a photo of sks person\")", str(a, "instance", "data")!, out, 5, 5);
        break;
      case "class-images":
        files = await figFolder("fig4-class-images", "Fig. 4: class images from the base model (\"a photo of person\")", str(a, "class-dir", "runs/class-images")!, out, 16, 8);
        break;
      case "overview":
        files = await fig5Overview(out);
        break;
      case "comparison": {
        const n = int(a, "seeds", 4)!;
        files = await figSamples("fig6-comparison", "Fig. 6: the paper's prompt under the four noise schedulers", runs, Array.from({ length: n }, (_, s) => ({ prompt: "paper", seed: s })), out);
        break;
      }
      case "prompts":
        files = await figSamples("fig7-prompts", "Fig. 7: other prompts (seed 0)", runs, EXPERIMENT_PROMPTS.filter((p) => p.id !== "paper").map((p) => ({ prompt: p.id, seed: 0 })), out);
        break;
      case "environment":
        await initBackend({ prefer: str(a, "backend") });
        files = await table1Environment(out);
        break;
    }
    console.log(`wrote ${files.join(", ")}`);
    return 0;
  },
};
