/**
 * Writing a model as a diffusers folder: model_index.json, scheduler/, tokenizer/, and one folder
 * per network with config.json + diffusion_pytorch_model.safetensors (model.safetensors for the text
 * encoder, as transformers names it).
 */
import * as fs from "fs";
import * as path from "path";
import type { ParamSpec, Params } from "./params";
import { writeWeights } from "./weights";
import { writeFileAtomic } from "../io/atomic";
import type { ClipTokenizer } from "../tokenizer/clip";
import type { ResolvedScheduleConfig } from "../schedules";
import type { PredictionType } from "../diffusion/forward";

const json = (x: unknown) => JSON.stringify(x, null, 2) + "\n";

export async function writeComponent(
  dir: string,
  folder: "unet" | "vae" | "text_encoder",
  rawConfig: unknown,
  params: Params,
  specs: ParamSpec[],
  dtype: "F32" | "F16",
  metadata: Record<string, string> = {},
): Promise<void> {
  const d = path.join(dir, folder);
  fs.mkdirSync(d, { recursive: true });
  writeFileAtomic(path.join(d, "config.json"), json(rawConfig));
  const values = new Map<string, Float32Array>();
  for (const [k, v] of params) values.set(k, new Float32Array((await v.data()) as Float32Array));
  const file = folder === "text_encoder" ? "model.safetensors" : "diffusion_pytorch_model.safetensors";
  writeWeights(path.join(d, file), values, specs, { dtype, metadata });
}

/** tokenizer/vocab.json + merges.txt + configs, as transformers' CLIPTokenizer saves them. */
export function writeTokenizerFolder(dir: string, tok: ClipTokenizer): void {
  const d = path.join(dir, "tokenizer");
  fs.mkdirSync(d, { recursive: true });
  writeFileAtomic(path.join(d, "vocab.json"), JSON.stringify(Object.fromEntries(tok.encoder)) + "\n");
  const merges = [...tok.bpeRanks.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  writeFileAtomic(path.join(d, "merges.txt"), ["#version: 0.2", ...merges].join("\n") + "\n");
  writeFileAtomic(
    path.join(d, "special_tokens_map.json"),
    json({ bos_token: "<|startoftext|>", eos_token: "<|endoftext|>", pad_token: "<|endoftext|>", unk_token: "<|endoftext|>" }),
  );
  writeFileAtomic(
    path.join(d, "tokenizer_config.json"),
    json({ tokenizer_class: "CLIPTokenizer", model_max_length: 77, do_lower_case: true, bos_token: "<|startoftext|>", eos_token: "<|endoftext|>", pad_token: "<|endoftext|>", unk_token: "<|endoftext|>" }),
  );
}

/** scheduler/scheduler_config.json (diffusers DDPMScheduler) and model_index.json. */
export function writePipelineFiles(dir: string, schedule: ResolvedScheduleConfig, predictionType: PredictionType): void {
  const betaSchedule = schedule.kind === "cosine" ? "squaredcos_cap_v2" : schedule.kind;
  writeFileAtomic(
    path.join(dir, "scheduler", "scheduler_config.json"),
    json({
      _class_name: "DDPMScheduler",
      num_train_timesteps: schedule.timesteps,
      beta_start: schedule.betaStart,
      beta_end: schedule.betaEnd,
      beta_schedule: betaSchedule,
      rescale_betas_zero_snr: schedule.zeroTerminalSnr,
      prediction_type: predictionType,
      clip_sample: false,
      steps_offset: 1,
      timestep_spacing: "trailing",
    }),
  );
  writeFileAtomic(
    path.join(dir, "model_index.json"),
    json({
      _class_name: "StableDiffusionPipeline",
      scheduler: ["diffusers", "DDPMScheduler"],
      text_encoder: ["transformers", "CLIPTextModel"],
      tokenizer: ["transformers", "CLIPTokenizer"],
      unet: ["diffusers", "UNet2DConditionModel"],
      vae: ["diffusers", "AutoencoderKL"],
      safety_checker: [null, null],
      feature_extractor: [null, null],
      requires_safety_checker: false,
    }),
  );
}
