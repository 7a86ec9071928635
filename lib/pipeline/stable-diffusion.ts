/**
 * Text-to-image with a diffusers-format Stable Diffusion folder: tokenize, encode the prompt (and
 * the empty prompt for classifier-free guidance), denoise latents with DDPM or DDIM, decode.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "../kernels";
import { loadComponentConfigs, componentParamSpecs } from "../models/components";
import type { ComponentConfigs } from "../models/configs";
import { paramsFromValues, disposeParams } from "../models/init";
import type { Params } from "../models/params";
import { readWeights, TEXT_ENCODER_IGNORE } from "../models/weights";
import { ClipTokenizer, clipTokenizer } from "../tokenizer/clip";
import { unetForward } from "../models/unet";
import { vaeCurrentName, vaeDecode, vaeDownscaleFactor } from "../models/vae";
import { clipTextForward } from "../models/clip-text";
import { makeSchedule, NoiseSchedule, ScheduleConfig, ScheduleKind } from "../schedules";
import { guide, sample, SchedulerKind, TimestepSpacing } from "../diffusion/samplers";
import type { PredictionType } from "../diffusion/forward";
import type { Seed } from "../random";
import sharp from "sharp";

export interface SchedulerFile {
  schedule: ScheduleConfig;
  predictionType: PredictionType;
}

const BETA_SCHEDULES: Record<string, ScheduleKind> = {
  linear: "linear",
  scaled_linear: "scaled_linear",
  squaredcos_cap_v2: "cosine",
  sigmoid: "sigmoid",
};

/** Reads diffusers' scheduler/scheduler_config.json into this project's schedule config. */
export function readSchedulerConfig(dir: string): SchedulerFile {
  const file = path.join(dir, "scheduler", "scheduler_config.json");
  if (!fs.existsSync(file))
    throw new Error(`${file} not found: a diffusers folder has scheduler/scheduler_config.json`);
  const c = JSON.parse(fs.readFileSync(file, "utf8"));
  const kind = BETA_SCHEDULES[c.beta_schedule ?? "linear"];
  if (!kind)
    throw new Error(
      `${file}: beta_schedule "${c.beta_schedule}" is not supported; use one of ${Object.keys(BETA_SCHEDULES).join(", ")}`,
    );
  return {
    schedule: {
      kind,
      timesteps: c.num_train_timesteps ?? 1000,
      betaStart: c.beta_start,
      betaEnd: c.beta_end,
      zeroTerminalSnr: !!c.rescale_betas_zero_snr,
    },
    predictionType: c.prediction_type ?? "epsilon",
  };
}

export interface StableDiffusion {
  dir: string;
  configs: ComponentConfigs;
  unet: Params;
  vae: Params;
  textEncoder: Params;
  tokenizer: ClipTokenizer;
  scheduler: SchedulerFile;
  dispose(): void;
}

/** Loads every component of a diffusers folder; weights are checked against the configs' specs. */
export function loadStableDiffusion(dir: string): StableDiffusion {
  const configs = loadComponentConfigs(dir);
  const specs = componentParamSpecs(configs);
  const unet = paramsFromValues(specs.unet, readWeights(path.join(dir, "unet"), specs.unet));
  // SD 1.x's own VAE files still use diffusers' old attention names (query/key/value/proj_attn)
  const vae = paramsFromValues(specs.vae, readWeights(path.join(dir, "vae"), specs.vae, { rename: vaeCurrentName }));
  const textEncoder = paramsFromValues(
    specs.textEncoder,
    readWeights(path.join(dir, "text_encoder"), specs.textEncoder, { ignore: TEXT_ENCODER_IGNORE }),
  );
  const tokenizer = fs.existsSync(path.join(dir, "tokenizer", "vocab.json"))
    ? ClipTokenizer.fromFolder(dir)
    : clipTokenizer();
  return {
    dir,
    configs,
    unet,
    vae,
    textEncoder,
    tokenizer,
    scheduler: readSchedulerConfig(dir),
    dispose() {
      [unet, vae, textEncoder].forEach(disposeParams);
    },
  };
}

/** Text states [B, 77, D] for prompts. */
export function encodePrompts(sd: StableDiffusion, prompts: string[]): tf.Tensor3D {
  const ids = prompts.flatMap((p) => sd.tokenizer.encode(p));
  return tf.tidy(() =>
    clipTextForward(sd.textEncoder, sd.configs.textEncoder, tf.tensor2d(ids, [prompts.length, 77], "int32")),
  );
}

export interface GenerateOptions {
  prompt: string;
  /** image side in pixels (default: the model's own, the U-Net's sample_size × the VAE's downscale factor) */
  size?: number;
  negativePrompt?: string;
  /** images to make (each its own noise from the seed) */
  count?: number;
  seed: Seed;
  scheduler?: SchedulerKind;
  steps?: number;
  spacing?: TimestepSpacing;
  guidance?: number;
  guidanceRescale?: number;
  eta?: number;
  /** override the folder's schedule (e.g. a fine-tune trained with zero terminal SNR) */
  schedule?: NoiseSchedule;
  predictionType?: PredictionType;
  onStep?: (i: number, n: number) => void;
}

/** The model's own image side in pixels: the U-Net's sample_size × the VAE's downscale factor. */
export function nativeResolution(sd: Pick<StableDiffusion, "configs">): number {
  return sd.configs.unet.sample_size * vaeDownscaleFactor(sd.configs.vae);
}

/**
 * The latent side for an image side in pixels (default: the model's own). The side must divide by the
 * VAE's downscale factor times the U-Net's (2 per down block but the last); otherwise an error says so.
 */
export function latentSide(sd: Pick<StableDiffusion, "configs">, size?: number): number {
  if (size === undefined) return sd.configs.unet.sample_size;
  const f = vaeDownscaleFactor(sd.configs.vae);
  const m = f * 2 ** (sd.configs.unet.down_block_types.length - 1);
  if (!Number.isInteger(size) || size <= 0 || size % m !== 0) {
    throw new Error(
      `image size ${size} px: the model needs a positive multiple of ${m} (its VAE and U-Net downscale by ${m})`,
    );
  }
  return size / f;
}

/** Generates images [count, H, W, 3] in [−1, 1]. */
export async function generate(sd: StableDiffusion, o: GenerateOptions): Promise<tf.Tensor4D> {
  const n = o.count ?? 1;
  const schedule = o.schedule ?? makeSchedule(sd.scheduler.schedule);
  const predictionType = o.predictionType ?? sd.scheduler.predictionType;
  const w = o.guidance ?? 7.5;
  const cond = encodePrompts(sd, new Array(n).fill(o.prompt));
  const uncond = w === 1 ? undefined : encodePrompts(sd, new Array(n).fill(o.negativePrompt ?? ""));
  const both = uncond ? tf.concat([uncond, cond], 0) : undefined;
  const size = latentSide(sd, o.size);
  try {
    const latents = await sample({
      schedule,
      shape: [n, size, size, sd.configs.unet.in_channels],
      scheduler: o.scheduler ?? "ddim",
      steps: o.steps ?? 50,
      spacing: o.spacing ?? "trailing",
      predictionType,
      eta: o.eta,
      seed: o.seed,
      onStep: o.onStep,
      model: (xt, t) =>
        tf.tidy(() => {
          const tt = tf.fill([xt.shape[0] * (both ? 2 : 1)], t, "int32") as tf.Tensor1D;
          if (!both) return unetForward(sd.unet, sd.configs.unet, xt as tf.Tensor4D, tt, cond);
          const out = unetForward(sd.unet, sd.configs.unet, tf.concat([xt, xt], 0) as tf.Tensor4D, tt, both);
          const [u, c] = tf.split(out, 2, 0);
          return guide(u, c, w, o.guidanceRescale ?? 0);
        }),
    });
    const images = tf.tidy(
      () =>
        tf.clipByValue(
          vaeDecode(sd.vae, sd.configs.vae, tf.div(latents, sd.configs.vae.scaling_factor) as tf.Tensor4D),
          -1,
          1,
        ) as tf.Tensor4D,
    );
    latents.dispose();
    return images;
  } finally {
    tf.dispose([cond, uncond, both].filter((t): t is tf.Tensor3D => t !== undefined));
  }
}

/** PNG bytes of image i of a [B, H, W, 3] batch in [−1, 1]. */
export async function toPng(images: tf.Tensor4D, i = 0): Promise<Buffer> {
  return imagePng({ data: (await images.data()) as Float32Array, shape: images.shape }, i);
}

/** PNG bytes of image i of raw [B, H, W, 3] values in [−1, 1]. */
export async function imagePng(images: { data: Float32Array; shape: readonly number[] }, i = 0): Promise<Buffer> {
  const [, H, W, C] = images.shape;
  const data = images.data;
  const px = new Uint8Array(H * W * C);
  const off = i * H * W * C;
  for (let k = 0; k < px.length; k++) px[k] = Math.max(0, Math.min(255, Math.round((data[off + k] + 1) * 127.5)));
  return sharp(Buffer.from(px.buffer), { raw: { width: W, height: H, channels: C as 3 } })
    .png()
    .toBuffer();
}
