/** `dreambooth pretrain`: train the embedded tiny Stable Diffusion (autoencoder, then text encoder + U-Net). */
import * as os from "os";
import { bool, Command, int, num, oneOf, parseArgs, str } from "../command";
import { initBackend } from "../../lib/backend";
import { pretrain } from "../../lib/pretrain/pretrain";
import { PREDICTION_TYPES, PredictionType } from "../../lib/diffusion/forward";
import { SCHEDULE_KINDS, ScheduleKind } from "../../lib/schedules";

/**
 * The committed model's recipe, named as in params.yaml's pretrain section (a test holds the two equal):
 * the single source of this command's defaults and of its usage text.
 */
export const PRETRAIN_DEFAULTS = {
  vae_steps: 2000, vae_batch: 16, vae_crop: 32, vae_lr: 0.002, kl_weight: 1e-6,
  steps: 2800, batch: 32, lr: 0.0007, warmup: 100, ema: 0.995, images: 12000, caption_dropout: 0.1,
  prediction: "v_prediction" as PredictionType, token_table: "frozen" as TokenTable, seed: 0,
};
export type TokenTable = "frozen" | "trained";
const TOKEN_TABLES: TokenTable[] = ["frozen", "trained"];
const D = PRETRAIN_DEFAULTS;

const usage = `usage: dreambooth pretrain [--data datasets/faces] [--out models/tiny-sd] [--work runs/pretrain]
                          [--vae-steps ${D.vae_steps}] [--vae-batch ${D.vae_batch}] [--vae-crop ${D.vae_crop}] [--vae-lr ${D.vae_lr}] [--kl-weight ${D.kl_weight}]
                          [--steps ${D.steps}] [--batch ${D.batch}] [--lr ${D.lr}] [--warmup ${D.warmup}] [--caption-dropout ${D.caption_dropout}]
                          [--ema ${D.ema}] [--schedule linear] [--zero-terminal-snr] [--prediction ${D.prediction}]
                          [--min-snr-gamma G] [--images ${D.images}] [--token-table ${D.token_table}] [--workers N] [--seed ${D.seed}] [--checkpoint-every 200] [--fp32]

Reads <data>/train.pack and <data>/val.pack (dreambooth data --format packed), trains, and writes a
diffusers-format folder to --out. Interrupt it any time: a rerun resumes from the last checkpoint
in --work. The defaults are the committed model's recipe (params.yaml's pretrain section): the paper's
baseline forward process (linear β 1e-4 … 0.02) with v-prediction. --images N encodes only the first
N training images for the second stage (each costs an autoencoder forward pass). --vae-crop S trains
the autoencoder on random S×S crops (a multiple of its downscaling; 0 = whole images): it is
convolutional, so it still encodes whole images afterwards, and a 32-pixel crop costs a quarter of a
64-pixel image.
--token-table frozen|trained: frozen keeps the text encoder's 49,408-row token table at its seeded random
init; trained lets the rows of the words the captions use learn with the rest (with the table frozen, v9's
text encoder barely told "goggles" from "glasses"; the README gives what training it changed).
--min-snr-gamma G weighs each timestep's loss by min(SNR, G) over its target's scale (Hang et al. 2023,
"Efficient Diffusion Training via Min-SNR Weighting Strategy"): off by default. With v-prediction its
weight min(SNR, G)/(SNR + 1) is about SNR at high noise (linear β: 0.007 at t = 700, 0.0003 at 900), the
timesteps where a caption decides the colours and the layout: in a 250-step test the caption lowered
the loss at t = 900 by 16 % without it and by 0 % with G = 5, and a 2000-step model trained with G = 5
followed prompts at chance.`;

export const command: Command = {
  name: "pretrain",
  summary: "pretrain the tiny Stable Diffusion on the face dataset (resumable)",
  usage,
  async run(argv) {
    const a = parseArgs(
      argv,
      ["data", "out", "work", "vae-steps", "vae-batch", "vae-lr", "kl-weight", "vae-crop", "steps", "batch", "lr", "warmup", "caption-dropout", "ema", "schedule", "prediction", "workers", "seed", "checkpoint-every", "backend", "images", "min-snr-gamma", "token-table"],
      ["zero-terminal-snr", "fp32"],
    );
    const data = str(a, "data", "datasets/faces")!;
    const kind = oneOf<ScheduleKind>(a, "schedule", SCHEDULE_KINDS, "linear");
    const prediction = oneOf<PredictionType>(a, "prediction", PREDICTION_TYPES, D.prediction);
    const gamma = num(a, "min-snr-gamma");
    if (gamma !== undefined && !(gamma > 0)) throw new Error(`--min-snr-gamma must be positive (got ${gamma}); leave it out to weigh every timestep equally`);
    const tokenTable = oneOf<TokenTable>(a, "token-table", TOKEN_TABLES, D.token_table);
    await initBackend({ prefer: str(a, "backend") });
    const ema = num(a, "ema", D.ema)!;
    const report = await pretrain({
      out: str(a, "out", "models/tiny-sd")!,
      work: str(a, "work", "runs/pretrain")!,
      trainPack: `${data}/train.pack`,
      valPack: `${data}/val.pack`,
      vae: { steps: int(a, "vae-steps", D.vae_steps)!, batch: int(a, "vae-batch", D.vae_batch)!, lr: num(a, "vae-lr", D.vae_lr)!, klWeight: num(a, "kl-weight", D.kl_weight)!, crop: int(a, "vae-crop", D.vae_crop)! },
      diffusion: {
        steps: int(a, "steps", D.steps)!,
        batch: int(a, "batch", D.batch)!,
        lr: num(a, "lr", D.lr)!,
        warmupSteps: int(a, "warmup", D.warmup)!,
        captionDropout: num(a, "caption-dropout", D.caption_dropout)!,
        emaDecay: ema > 0 ? ema : undefined,
        schedule: { kind, zeroTerminalSnr: bool(a, "zero-terminal-snr") },
        predictionType: prediction,
        minSnrGamma: num(a, "min-snr-gamma"),
        images: int(a, "images", D.images),
        trainTokenTable: tokenTable === "trained",
      },
      workers: int(a, "workers", os.availableParallelism())!,
      seed: int(a, "seed", D.seed)!,
      checkpointEvery: int(a, "checkpoint-every", 200)!,
      dtype: bool(a, "fp32") ? "F32" : "F16",
    });
    console.log(JSON.stringify(report, null, 2));
    return 0;
  },
};
