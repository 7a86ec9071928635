/**
 * The model card (README.md) of a pretrained folder, written by `pretrain` from what it actually did:
 * the components and their sizes (from the configs), the recipe (the options), the timings and the
 * autoencoder's held-out PSNR (the report). The folder is a DVC output, rewritten whole by every
 * run; only a hand-written `## History` section at the end of an existing card is carried over (the
 * recipes tried before this one, and what they measured). Prompt following is measured by the separate
 * `base_eval` stage (metrics/base-model.json), since it needs the evaluator.
 */
import * as fs from "fs";
import * as path from "path";
import { loadComponentConfigs, componentParamCounts } from "../models/components";
import { vaeDownscaleFactor } from "../models/vae";
import type { PretrainOptions, PretrainReport } from "./types";

const m = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const mins = (s: number) => `${(s / 60).toFixed(1)} min`;

/** "achieved GFLOP/s = share of workers × the matMul ceiling", when the report has both numbers. */
function throughputRow(o: PretrainOptions, r: PretrainReport, diffTrain: number): string {
  if (!r.diffusionFlopsPerSample || !r.matmulCeilingGflops) return "";
  const d = o.diffusion;
  const achieved = (((d.steps * d.batch) / Math.max(diffTrain, 1e-9)) * r.diffusionFlopsPerSample) / 1e9;
  const share = achieved / (o.workers * r.matmulCeilingGflops);
  return (
    `| text encoder + U-Net throughput | ${achieved.toFixed(1)} GFLOP/s (${(r.diffusionFlopsPerSample / 1e9).toFixed(2)} GFLOP per sample: 3 × forward) ` +
    `= ${(100 * share).toFixed(0)} % of ${o.workers} × the one-thread matMul ceiling (${r.matmulCeilingGflops.toFixed(1)} GFLOP/s, ${ceilingWhen(r)}) |\n`
  );
}

function ceilingWhen(r: PretrainReport): string {
  const runs = r.matmulCeilingRuns;
  if (!runs || runs.length < 2) return "measured after training";
  return `the best of ${runs.map((c) => `${c.gflops.toFixed(1)} ${c.when}`).join(" and ")}`;
}

export function modelCard(dir: string, o: PretrainOptions, r: PretrainReport): string {
  const c = loadComponentConfigs(dir);
  const counts = componentParamCounts(c);
  const f = vaeDownscaleFactor(c.vae);
  const side = c.unet.sample_size * f;
  const d = o.diffusion;
  const weightBytes = ["unet", "vae", "text_encoder"]
    .map((k) => path.join(dir, k, "diffusion_pytorch_model.safetensors"))
    .concat(path.join(dir, "text_encoder", "model.safetensors"))
    .filter((p) => fs.existsSync(p))
    .reduce((a, p) => a + fs.statSync(p).size, 0);
  const vaeTrain = r.vaeTrainingSeconds ?? r.vaeSeconds;
  const diffTrain = r.diffusionTrainingSeconds ?? r.diffusionSeconds;
  const attn = c.unet.down_block_types
    .map((t, i) => (t.startsWith("CrossAttn") ? `${c.unet.sample_size / 2 ** i}×${c.unet.sample_size / 2 ** i}` : null))
    .filter(Boolean);
  return `# ${path.basename(dir)}: a Stable Diffusion 1.x in miniature

Written by \`dreambooth pretrain\` (this file too: the folder is the \`pretrain\` stage's output in \`dvc.yaml\`,
frozen, so \`dvc repro\` uses these weights unless forced). Diffusers layout, ${o.dtype === "F16" ? "fp16" : "fp32"} safetensors,
${(weightBytes / 1e6).toFixed(1)} MB of weights; loads with \`loadStableDiffusion\` and samples with \`dreambooth sample\`.

| component | config | parameters |
|---|---|---|
| U-Net | channels (${c.unet.block_out_channels.join(", ")}), cross-attention at ${attn.join(" and ")}, ${c.unet.sample_size}×${c.unet.sample_size}×${c.unet.in_channels} latents | ${m(counts.unet)} |
| text encoder | CLIP, width ${c.textEncoder.hidden_size}, ${c.textEncoder.num_hidden_layers} layers, the real ${c.textEncoder.vocab_size.toLocaleString("en-US")}-token vocabulary${d.trainTokenTable ? "" : " (token table frozen at its seeded init)"} | ${m(counts.textEncoder)} |
| VAE | (${c.vae.block_out_channels.join(", ")}), ${f}× down to ${c.vae.latent_channels} latent channels, GroupNorm in ${c.vae.norm_num_groups} group${c.vae.norm_num_groups === 1 ? "" : "s"}, ${side}×${side} RGB, scaling_factor ${c.vae.scaling_factor} = 1 / latent std | ${m(counts.vae)} |

## How it was trained

On the face dataset (\`${o.trainPack}\`), ${o.workers} worker thread${o.workers === 1 ? "" : "s"}, seed ${o.seed}:

1. the autoencoder: ${o.vae.steps} steps × ${o.vae.batch} ${o.vae.crop ? `random ${o.vae.crop}×${o.vae.crop} crops` : "images"}, lr ${o.vae.lr} (cosine), KL weight ${o.vae.klWeight};
2. the first ${d.images ?? "all"} training images encoded once (the autoencoder is frozen from here on);
3. text encoder and U-Net together: ${d.steps} steps × ${d.batch}, ${d.predictionType} prediction, ${d.schedule.kind} β${d.schedule.zeroTerminalSnr ? " + zero terminal SNR" : ""}${d.minSnrGamma ? `, min-SNR-γ ${d.minSnrGamma} weighting` : ", every timestep weighted equally"},
   caption dropout ${d.captionDropout} (for classifier-free guidance), AdamW lr ${d.lr} with ${d.warmupSteps} warm-up steps and cosine decay,
   gradient clipping at 1${d.emaDecay ? `, EMA ${d.emaDecay} (the weights here are the EMA)` : ""}.

| | this run |
|---|---|
| autoencoder training (its log, over resumed runs) | ${mins(vaeTrain)} (${((o.vae.steps * o.vae.batch) / Math.max(vaeTrain, 1e-9)).toFixed(1)} ${o.vae.crop ? "crops" : "images"}/s) |
| encoding | ${r.encodeCached || r.encodeSeconds < 1 ? "cached from an earlier run of the same autoencoder" : mins(r.encodeSeconds)} |
| text encoder + U-Net training (its log) | ${mins(diffTrain)} (${((d.steps * d.batch) / Math.max(diffTrain, 1e-9)).toFixed(1)} samples/s), final loss ${r.diffusionFinalLoss.toFixed(4)} |
| this invocation, end to end | ${mins(r.totalSeconds)} |
${throughputRow(o, r, diffTrain)}| autoencoder reconstruction, held-out faces | ${r.valPsnr.toFixed(1)} dB PSNR |

\`training.json\` holds the options and this report; \`training-log-vae.csv\` and \`training-log-diffusion.csv\` the losses
(plotted by \`dvc plots show\`). How well the model follows prompts is the \`base_eval\` stage's \`metrics/base-model.json\`.
`;
}

/** The heading that starts the part of a card a rewrite keeps. */
export const HISTORY_HEADING = "## History";

/** The `## History` section of a card (to its end), or "" when it has none. */
export function historySection(card: string): string {
  const at = card.search(new RegExp(`^${HISTORY_HEADING}\\s*$`, "m"));
  return at < 0 ? "" : card.slice(at);
}

/** Writes the card, keeping the history section of the card already there. */
export function writeModelCard(dir: string, o: PretrainOptions, r: PretrainReport): void {
  const file = path.join(dir, "README.md");
  const history = fs.existsSync(file) ? historySection(fs.readFileSync(file, "utf8")) : "";
  fs.writeFileSync(file, modelCard(dir, o, r) + (history ? `\n${history}` : ""));
}
