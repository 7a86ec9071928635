/** `dreambooth pretrain`: train the embedded tiny Stable Diffusion (autoencoder, then text encoder + U-Net). */
import * as os from "os";
import { BACKEND_OPTION, defineCommand, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { pretrain } from "../../lib/pretrain/pretrain";
import { PREDICTION_TYPES } from "../../lib/diffusion/forward";
import { SCHEDULE_KINDS } from "../../lib/schedules";

export const command = defineCommand({
  name: "pretrain",
  summary: "pretrain the tiny Stable Diffusion on the face dataset (resumable)",
  description: `Reads <data>/train.pack and <data>/val.pack (dreambooth data --format packed), trains the autoencoder
on random crops, encodes --images training faces with it, trains the text encoder and U-Net together on
those latents, and writes a diffusers-format folder to --out. Interrupt it any time: a rerun resumes from
the last checkpoint in --work. The defaults are params.yaml's pretrain section, the embedded model's
recipe (models/tiny-sd/README.md tells how it was chosen).`,
  options: {
    data: { type: "string", value: "<folder>", default: "datasets/faces", help: "the packed face dataset" },
    out: { type: "string", value: "<folder>", default: "models/tiny-sd", help: "the model folder to write" },
    work: { type: "string", value: "<folder>", default: "runs/pretrain", help: "checkpoints and logs" },
    "vae-steps": { type: "integer", min: 0, param: "pretrain.vae_steps", help: "autoencoder steps" },
    "vae-batch": { type: "integer", min: 1, param: "pretrain.vae_batch", help: "autoencoder batch (crops)" },
    "vae-crop": { type: "integer", min: 0, param: "pretrain.vae_crop", help: "crop side in pixels (0: whole images)" },
    "vae-lr": { type: "number", min: 0, param: "pretrain.vae_lr", help: "autoencoder learning rate" },
    "kl-weight": { type: "number", min: 0, param: "pretrain.kl_weight", help: "weight of the KL term" },
    steps: { type: "integer", min: 0, param: "pretrain.steps", help: "text encoder + U-Net steps" },
    batch: { type: "integer", min: 1, param: "pretrain.batch", help: "batch, split over the workers" },
    lr: { type: "number", min: 0, param: "pretrain.lr", help: "peak learning rate (cosine decay after warm-up)" },
    warmup: { type: "integer", min: 0, param: "pretrain.warmup", help: "warm-up steps" },
    ema: { type: "number", min: 0, max: 1, param: "pretrain.ema", help: "EMA decay of the weights written (0: none)" },
    images: { type: "integer", min: 1, param: "pretrain.images", help: "training faces encoded for the second stage" },
    "caption-dropout": {
      type: "number",
      min: 0,
      max: 1,
      param: "pretrain.caption_dropout",
      help: 'share of captions replaced by ""',
    },
    schedule: { type: "string", choices: SCHEDULE_KINDS, default: "linear", help: "the β schedule" },
    "zero-terminal-snr": { type: "boolean", help: "train with zero terminal SNR" },
    prediction: {
      type: "string",
      choices: PREDICTION_TYPES,
      param: "pretrain.prediction",
      help: "what the U-Net predicts",
    },
    "min-snr-gamma": { type: "number", min: 0, help: "Min-SNR loss weighting γ (Hang et al. 2023; default: off)" },
    "token-table": {
      type: "string",
      choices: ["frozen", "trained"],
      param: "pretrain.token_table",
      help: "frozen: the token embeddings keep their seeded init; trained: the captions' words learn theirs",
    },
    workers: { type: "integer", min: 1, help: "worker threads (default: one per core)" },
    seed: {
      type: "integer",
      min: 0,
      param: "pretrain.seed",
      help: "seed of the init, the crops, the noise and the batches",
    },
    "checkpoint-every": { type: "integer", min: 1, default: 200, help: "steps between checkpoints" },
    fp32: { type: "boolean", help: "write float32 weights (default: float16)" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    if (o.minSnrGamma !== undefined && !(o.minSnrGamma > 0)) {
      throw new UsageError(
        `--min-snr-gamma must be positive (got ${o.minSnrGamma}); leave it out to weigh every timestep equally`,
      );
    }
    await initBackend({ prefer: o.backend });
    const report = await pretrain({
      out: o.out,
      work: o.work,
      trainPack: `${o.data}/train.pack`,
      valPack: `${o.data}/val.pack`,
      vae: { steps: o.vaeSteps, batch: o.vaeBatch, lr: o.vaeLr, klWeight: o.klWeight, crop: o.vaeCrop },
      diffusion: {
        steps: o.steps,
        batch: o.batch,
        lr: o.lr,
        warmupSteps: o.warmup,
        captionDropout: o.captionDropout,
        emaDecay: o.ema > 0 ? o.ema : undefined,
        schedule: { kind: o.schedule, zeroTerminalSnr: o.zeroTerminalSnr },
        predictionType: o.prediction,
        minSnrGamma: o.minSnrGamma,
        images: o.images,
        trainTokenTable: o.tokenTable === "trained",
      },
      workers: o.workers ?? os.availableParallelism(),
      seed: o.seed,
      checkpointEvery: o.checkpointEvery,
      dtype: o.fp32 ? "F32" : "F16",
    });
    console.log(JSON.stringify(report, null, 2));
    return 0;
  },
});
