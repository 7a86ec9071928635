/** `dreambooth figure <name>`: one paper figure (PNG + the numbers behind it as JSON) per call. */
import * as path from "path";
import { BACKEND_OPTION, defineCommand, UsageError } from "../command";
import { schedulesFigure } from "../../lib/figures/schedules";
import {
  fig1Components,
  fig2Method,
  fig5Overview,
  figFolder,
  figSamples,
  table1Environment,
} from "../../lib/figures/paper";
import { initBackend } from "../../lib/backend";
import { EXPERIMENT_PROMPTS } from "../../lib/experiment/experiment";
import { effectsFigure } from "../../lib/figures/effects";

const FIGURES = [
  "schedules",
  "components",
  "method",
  "instance",
  "class-images",
  "overview",
  "comparison",
  "prompts",
  "effects",
  "environment",
] as const;
type Figure = (typeof FIGURES)[number];
const CONFIGS = [
  ["linear", "linear"],
  ["linear + ZT-SNR", "linear-ztsnr"],
  ["sigmoid", "sigmoid"],
  ["sigmoid + ZT-SNR", "sigmoid-ztsnr"],
] as const;

export const command = defineCommand({
  name: "figure",
  summary: "draw a paper figure with the numbers behind it",
  description: `  schedules     β, ᾱ, SNR of every schedule ± zero terminal SNR (--timesteps)
  components    fig1: the model's components with parameter counts (--model)
  method        fig2: what the paper changes
  instance      fig3: the instance images (--instance)
  class-images  fig4: class images of the base model (--class-dir)
  overview      fig5: the experiment's data flow
  comparison    fig6: the four fine-tunings × sampling seeds, the paper's prompt (--samples, --train-seed, --seeds)
  prompts       fig7: the four fine-tunings × other prompts (--samples, --train-seed)
  effects       the comparison's paired effects as a forest plot (--effects)
  environment   table1: CPU, GPU, memory, OS, Node, tfjs, backend`,
  positionals: { name: "<figure>", help: `one of: ${FIGURES.join(", ")}`, count: "one" },
  options: {
    out: { type: "string", value: "<folder>", default: "paper-figures", help: "where the PNG and JSON go" },
    timesteps: { type: "integer", min: 2, default: 1000, help: "T of the schedules" },
    model: { type: "string", value: "<folder>", default: "models/tiny-sd", help: "the base model" },
    instance: { type: "string", value: "<folder>", default: "data", help: "the instance images" },
    "class-dir": { type: "string", value: "<folder>", default: "runs/class-images", help: "the class images" },
    samples: {
      type: "string",
      value: "<folder>",
      default: "runs/samples",
      help: "the samples, <configuration>/<training seed>",
    },
    "train-seed": {
      type: "integer",
      min: 0,
      default: 0,
      help: "which training seed's fine-tunings fig6 and fig7 show",
    },
    seeds: { type: "integer", min: 1, default: 4, help: "sampling seeds shown in fig6" },
    effects: {
      type: "string",
      value: "<file.json>",
      default: "metrics/effects.json",
      help: "the comparison's paired effects",
    },
    ...BACKEND_OPTION,
  },
  async run(o, [name]) {
    if (!(FIGURES as readonly string[]).includes(name)) {
      throw new UsageError(`unknown figure "${name}": one of ${FIGURES.join(", ")}`);
    }
    const runs = CONFIGS.map(([label, dir]) => ({ label, samples: path.join(o.samples, dir, String(o.trainSeed)) }));
    let files: string[];
    switch (name as Figure) {
      case "schedules":
        files = await schedulesFigure({ out: o.out, timesteps: o.timesteps });
        break;
      case "components":
        files = await fig1Components(o.model, o.out);
        break;
      case "method":
        files = await fig2Method(o.out);
        break;
      case "instance":
        files = await figFolder(
          "fig3-instance-images",
          'Fig. 3: the instance images ("a photo of sks person")',
          o.instance,
          o.out,
          5,
          5,
        );
        break;
      case "class-images":
        files = await figFolder(
          "fig4-class-images",
          'Fig. 4: class images from the base model ("a photo of person")',
          o.classDir,
          o.out,
          16,
          8,
        );
        break;
      case "overview":
        files = await fig5Overview(o.out);
        break;
      case "comparison": {
        const cells = Array.from({ length: o.seeds }, (_, s) => ({ prompt: "paper", seed: s }));
        const title = `Fig. 6: the paper's prompt under the four noise schedulers (training seed ${o.trainSeed})`;
        files = await figSamples("fig6-comparison", title, runs, cells, o.out);
        break;
      }
      case "prompts": {
        const cells = EXPERIMENT_PROMPTS.filter((p) => p.id !== "paper").map((p) => ({ prompt: p.id, seed: 0 }));
        files = await figSamples(
          "fig7-prompts",
          `Fig. 7: other prompts (training seed ${o.trainSeed}, sampling seed 0)`,
          runs,
          cells,
          o.out,
        );
        break;
      }
      case "effects":
        files = await effectsFigure(o.effects, o.out);
        break;
      case "environment":
        await initBackend({ prefer: o.backend });
        files = await table1Environment(o.out);
        break;
    }
    console.log(`wrote ${files.join(", ")}`);
    return 0;
  },
});
