/**
 * Stable Diffusion as a whole, from configs only: where the three components' configs come from,
 * how many parameters they have, and how much arithmetic a U-Net forward costs.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigError, parseClipTextConfig, parseUNetConfig, parseVaeConfig, UNetConfig, unetAdditionEmbedding } from "./config";
import { ComponentConfigs, isShippedConfigName, SHIPPED_CONFIG_NAMES, shippedConfigs } from "./configs";
import { clipTextParamSpecs } from "./clip-text";
import { countParams, ParamSpec } from "./params";
import { FF_MULT, unetLevels, unetParamSpecs, unetTimeEmbedDim, upBlockResnets } from "./unet";
import { vaeParamSpecs } from "./vae";

/** diffusers' folder layout: one sub-folder per component, each with a `config.json`. */
export const COMPONENT_FOLDERS = { unet: "unet", vae: "vae", textEncoder: "text_encoder" } as const;

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The three configs of a shipped configuration ("sd15", "tiny") or of a diffusers-format folder
 * (`unet/config.json`, `vae/config.json`, `text_encoder/config.json`).
 */
export function loadComponentConfigs(folderOrName: string): ComponentConfigs {
  if (isShippedConfigName(folderOrName)) return shippedConfigs(folderOrName);
  if (!fs.existsSync(folderOrName) || !fs.statSync(folderOrName).isDirectory()) {
    throw new ConfigError(
      `"${folderOrName}" is neither a shipped config (${SHIPPED_CONFIG_NAMES.join(", ")}) nor a diffusers folder ` +
        `(a directory with unet/, vae/ and text_encoder/ sub-folders)`,
    );
  }
  const file = (k: keyof typeof COMPONENT_FOLDERS) => path.join(folderOrName, COMPONENT_FOLDERS[k], "config.json");
  const withFile = <T>(f: string, parse: (raw: unknown) => T): T => {
    try {
      return parse(readJson(f));
    } catch (e) {
      if (e instanceof ConfigError && !e.message.startsWith("cannot read") && !e.message.includes("not valid JSON")) {
        throw new ConfigError(`${f}: ${e.message}`);
      }
      throw e;
    }
  };
  return {
    unet: withFile(file("unet"), parseUNetConfig),
    vae: withFile(file("vae"), parseVaeConfig),
    textEncoder: withFile(file("textEncoder"), parseClipTextConfig),
  };
}

/** The three components' parameter specs (no allocation). */
export function componentParamSpecs(configs: ComponentConfigs): { unet: ParamSpec[]; vae: ParamSpec[]; textEncoder: ParamSpec[] } {
  return { unet: unetParamSpecs(configs.unet), vae: vaeParamSpecs(configs.vae), textEncoder: clipTextParamSpecs(configs.textEncoder) };
}

/** Parameter counts per component, from specs only (no allocation). */
export function componentParamCounts(configs: ComponentConfigs): { unet: number; vae: number; textEncoder: number } {
  return {
    unet: countParams(unetParamSpecs(configs.unet)),
    vae: countParams(vaeParamSpecs(configs.vae)),
    textEncoder: countParams(clipTextParamSpecs(configs.textEncoder)),
  };
}

/** The size of one U-Net forward: latent height and width, batch, text tokens. */
export interface UNetWorkload {
  height: number;
  width: number;
  batch: number;
  /** tokens of the text conditioning (77 for CLIP) */
  seqLen?: number;
}

/**
 * FLOPs of one U-Net forward, counted as 2 × the multiply-adds of every convolution, linear layer
 * and attention product (Q·Kᵀ and P·V); normalisations, activations, softmax and additions are not
 * counted (they are O(activations), a few percent at most). Walks the same structure as
 * `unetParamSpecs`/`unetForward`; a test checks it against the count the forward pass records.
 */
export function unetForwardFlops(config: UNetConfig, w: UNetWorkload): number {
  const c = config;
  const B = w.batch;
  const S = w.seqLen ?? 77;
  const f = 2 ** (c.block_out_channels.length - 1);
  if (w.height % f !== 0 || w.width % f !== 0) {
    throw new Error(`unetForwardFlops: latents ${w.height}×${w.width} must be multiples of ${f}`);
  }
  const temb = unetTimeEmbedDim(c);
  const ch0 = c.block_out_channels[0];
  const D = c.cross_attention_dim;
  const conv = (H: number, W: number, k: number, inC: number, outC: number) => 2 * B * H * W * k * k * inC * outC;
  const lin = (m: number, inF: number, outF: number) => 2 * m * inF * outF;
  const resnet = (H: number, W: number, inC: number, outC: number) =>
    conv(H, W, 3, inC, outC) + lin(B, temb, outC) + conv(H, W, 3, outC, outC) + (inC !== outC ? conv(H, W, 1, inC, outC) : 0);
  const transformer = (H: number, W: number, C: number) => {
    const N = H * W;
    const m = B * N;
    const attnSelf = 3 * lin(m, C, C) + 4 * B * N * N * C + lin(m, C, C);
    const attnCross = lin(m, C, C) + 2 * lin(B * S, D, C) + 4 * B * N * S * C + lin(m, C, C);
    const ff = lin(m, C, 2 * FF_MULT * C) + lin(m, FF_MULT * C, C);
    return 2 * lin(m, C, C) + attnSelf + attnCross + ff; // proj_in + proj_out + block
  };

  let flops = lin(B, ch0, temb) + lin(B, temb, temb);
  if (unetAdditionEmbedding(c)) {
    // TextTimeEmbedding: the class token's q, k and v of the S + 1 tokens, its attention (Q·Kᵀ, P·V), proj
    flops += lin(B, D, D) + 2 * lin(B * (S + 1), D, D) + 4 * B * (S + 1) * D + lin(B, D, temb);
  }
  let H = w.height;
  let W = w.width;
  flops += conv(H, W, 3, c.in_channels, ch0);
  const levels = unetLevels(c);
  let outC = ch0;
  for (const L of levels) {
    const inC = outC;
    outC = L.channels;
    for (let j = 0; j < c.layers_per_block; j++) {
      flops += resnet(H, W, j === 0 ? inC : outC, outC);
      if (L.crossAttention) flops += transformer(H, W, outC);
    }
    if (L.resample) {
      H /= 2;
      W /= 2;
      flops += conv(H, W, 3, outC, outC);
    }
  }
  flops += 2 * resnet(H, W, outC, outC) + transformer(H, W, outC);
  [...levels].reverse().forEach((L, i) => {
    for (const r of upBlockResnets(c, i)) {
      flops += resnet(H, W, r.inC + r.skipC, r.outC);
      if (L.crossAttention) flops += transformer(H, W, r.outC);
    }
    if (i < levels.length - 1) {
      H *= 2;
      W *= 2;
      flops += conv(H, W, 3, L.channels, L.channels);
    }
  });
  flops += conv(H, W, 3, ch0, c.out_channels);
  return flops;
}
