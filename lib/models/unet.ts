/**
 * Stable Diffusion's denoising U-Net (Rombach et al. 2022, §3.3; diffusers `UNet2DConditionModel`
 * with CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D / CrossAttnUpBlock2D).
 *
 * `unetParamSpecs` and `unetForward` walk the same structure: the specs name every parameter the
 * forward pass reads, with diffusers' names, so real Stable Diffusion weights load by name.
 * Activations are NHWC; channel concatenation of skips is on the last axis, in diffusers' order.
 *
 * Optional (off in Stable Diffusion): `addition_embed_type: "text"` adds diffusers' `TextTimeEmbedding`
 * of the text (`add_embedding`: LayerNorm, attention pooling, linear, LayerNorm) to the time embedding.
 */
import * as tf from "@tensorflow/tfjs-core";
import { UNetConfig, unetAdditionEmbedding, unetHeads } from "./config";
import {
  attention,
  conv2d,
  conv2dStride2,
  gelu,
  groupNormP,
  groupNormSiluP,
  layerNormP,
  linear,
  param,
  silu,
  timestepEmbedding,
  upsampleNearest2x,
} from "./layers";
import { ParamSpec, Params } from "./params";
import { SpecBuilder } from "./spec-builder";

/** diffusers `Transformer2DModel`'s GroupNorm epsilon (fixed at 1e-6, not the config's norm_eps). */
export const TRANSFORMER_NORM_EPS = 1e-6;
/** diffusers `BasicTransformerBlock`'s LayerNorm epsilon. */
export const TRANSFORMER_LAYER_NORM_EPS = 1e-5;
/** GEGLU feed-forward width multiplier (diffusers `FeedForward(mult=4)`). */
export const FF_MULT = 4;
/** diffusers `TextTimeEmbedding`'s LayerNorm epsilon (torch's default). */
export const TEXT_TIME_LAYER_NORM_EPS = 1e-5;

/** The channels per level of the U-Net's structure, derived once from the config. */
export interface UNetLevel {
  /** index in down_blocks */
  index: number;
  channels: number;
  heads: number;
  crossAttention: boolean;
  /** a Downsample2D ends this down block (all but the last level); Upsample2D ends every up block but the last */
  resample: boolean;
}

/** The time-embedding width: 4 × block_out_channels[0] (diffusers `time_embed_dim`). */
export function unetTimeEmbedDim(config: UNetConfig): number {
  return config.block_out_channels[0] * 4;
}

export function unetLevels(config: UNetConfig): UNetLevel[] {
  const heads = unetHeads(config);
  const n = config.block_out_channels.length;
  return config.block_out_channels.map((channels, index) => ({
    index,
    channels,
    heads: heads[index],
    crossAttention: config.down_block_types[index] === "CrossAttnDownBlock2D",
    resample: index < n - 1,
  }));
}

/**
 * The resnets of one up block: input channels (before the skip) and skip channels, per layer
 * (diffusers `UpBlock2D.__init__`: the last layer's skip comes from the level above).
 */
export function upBlockResnets(config: UNetConfig, upIndex: number): { inC: number; skipC: number; outC: number }[] {
  const rev = [...config.block_out_channels].reverse();
  const n = rev.length;
  const outC = rev[upIndex];
  const prevOut = rev[Math.max(upIndex - 1, 0)];
  const inputC = rev[Math.min(upIndex + 1, n - 1)];
  const layers = config.layers_per_block + 1;
  const out: { inC: number; skipC: number; outC: number }[] = [];
  for (let j = 0; j < layers; j++) {
    out.push({ inC: j === 0 ? prevOut : outC, skipC: j === layers - 1 ? inputC : outC, outC });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parameter specs

function resnetSpecs(s: SpecBuilder, p: string, inC: number, outC: number, tembDim: number | null): void {
  s.norm(`${p}.norm1`, inC);
  s.conv(`${p}.conv1`, inC, outC, 3);
  if (tembDim !== null) s.linear(`${p}.time_emb_proj`, tembDim, outC);
  s.norm(`${p}.norm2`, outC);
  s.conv(`${p}.conv2`, outC, outC, 3);
  if (inC !== outC) s.conv(`${p}.conv_shortcut`, inC, outC, 1);
}

function attentionSpecs(s: SpecBuilder, p: string, queryDim: number, contextDim: number, inner: number): void {
  s.linear(`${p}.to_q`, queryDim, inner, false);
  s.linear(`${p}.to_k`, contextDim, inner, false);
  s.linear(`${p}.to_v`, contextDim, inner, false);
  s.linear(`${p}.to_out.0`, inner, queryDim);
}

function transformerSpecs(s: SpecBuilder, p: string, channels: number, crossDim: number, linearProjection: boolean): void {
  const inner = channels; // heads × (channels / heads)
  s.norm(`${p}.norm`, channels);
  if (linearProjection) s.linear(`${p}.proj_in`, channels, inner);
  else s.conv(`${p}.proj_in`, channels, inner, 1);
  const b = `${p}.transformer_blocks.0`;
  s.norm(`${b}.norm1`, inner);
  attentionSpecs(s, `${b}.attn1`, inner, inner, inner);
  s.norm(`${b}.norm2`, inner);
  attentionSpecs(s, `${b}.attn2`, inner, crossDim, inner);
  s.norm(`${b}.norm3`, inner);
  s.linear(`${b}.ff.net.0.proj`, inner, 2 * FF_MULT * inner);
  s.linear(`${b}.ff.net.2`, FF_MULT * inner, inner);
  if (linearProjection) s.linear(`${p}.proj_out`, inner, channels);
  else s.conv(`${p}.proj_out`, inner, channels, 1);
}

/**
 * diffusers `AttentionPooling(num_heads, embedDim)`: a learned positional embedding [1, embedDim]
 * and q/k/v projections with bias (no output projection).
 */
export function attentionPoolingSpecs(s: SpecBuilder, p: string, embedDim: number): void {
  s.parameter(`${p}.positional_embedding`, [1, embedDim]);
  s.linear(`${p}.k_proj`, embedDim, embedDim);
  s.linear(`${p}.q_proj`, embedDim, embedDim);
  s.linear(`${p}.v_proj`, embedDim, embedDim);
}

/** diffusers `TextTimeEmbedding(encoderDim, timeEmbedDim)`: norm1, pool, proj, norm2. */
export function textTimeEmbeddingSpecs(s: SpecBuilder, p: string, encoderDim: number, timeEmbedDim: number): void {
  s.norm(`${p}.norm1`, encoderDim);
  attentionPoolingSpecs(s, `${p}.pool`, encoderDim);
  s.linear(`${p}.proj`, encoderDim, timeEmbedDim);
  s.norm(`${p}.norm2`, timeEmbedDim);
}

/** Every parameter of the U-Net, by diffusers name, in tfjs layout (no allocation). */
export function unetParamSpecs(config: UNetConfig): ParamSpec[] {
  const c = config;
  const s = new SpecBuilder();
  const ch0 = c.block_out_channels[0];
  const temb = unetTimeEmbedDim(c);
  const cad = c.cross_attention_dim;
  const lin = c.use_linear_projection;
  const levels = unetLevels(c);
  const addition = unetAdditionEmbedding(c);

  s.conv("conv_in", c.in_channels, ch0, 3);
  s.linear("time_embedding.linear_1", ch0, temb);
  s.linear("time_embedding.linear_2", temb, temb);
  // diffusers registers add_embedding right after time_embedding
  if (addition) textTimeEmbeddingSpecs(s, "add_embedding", cad, temb);

  let outC = ch0;
  for (const L of levels) {
    const inC = outC;
    outC = L.channels;
    for (let j = 0; j < c.layers_per_block; j++) {
      resnetSpecs(s, `down_blocks.${L.index}.resnets.${j}`, j === 0 ? inC : outC, outC, temb);
      if (L.crossAttention) transformerSpecs(s, `down_blocks.${L.index}.attentions.${j}`, outC, cad, lin);
    }
    if (L.resample) s.conv(`down_blocks.${L.index}.downsamplers.0.conv`, outC, outC, 3);
  }

  const last = levels[levels.length - 1].channels;
  resnetSpecs(s, "mid_block.resnets.0", last, last, temb);
  transformerSpecs(s, "mid_block.attentions.0", last, cad, lin);
  resnetSpecs(s, "mid_block.resnets.1", last, last, temb);

  const up = [...levels].reverse();
  up.forEach((L, i) => {
    upBlockResnets(c, i).forEach((r, j) => {
      resnetSpecs(s, `up_blocks.${i}.resnets.${j}`, r.inC + r.skipC, r.outC, temb);
      if (L.crossAttention) transformerSpecs(s, `up_blocks.${i}.attentions.${j}`, r.outC, cad, lin);
    });
    if (i < up.length - 1) s.conv(`up_blocks.${i}.upsamplers.0.conv`, L.channels, L.channels, 3);
  });

  s.norm("conv_norm_out", ch0);
  s.conv("conv_out", ch0, c.out_channels, 3);
  return s.specs;
}

// ---------------------------------------------------------------------------------------------
// Forward pass

/**
 * diffusers `ResnetBlock2D` (time_embedding_norm="default", output_scale_factor 1):
 * h = conv1(SiLU(GN(x))) + proj(SiLU(temb)); h = conv2(SiLU(GN(h))); out = shortcut(x) + h.
 * `temb` is null in the VAE.
 */
export function resnetBlock(
  params: Params,
  p: string,
  x: tf.Tensor4D,
  temb: tf.Tensor2D | null,
  groups: number,
  eps: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv2d(params, `${p}.conv1`, groupNormSiluP(params, `${p}.norm1`, x, groups, eps));
    if (temb) {
      const t = linear(params, `${p}.time_emb_proj`, silu(temb)) as tf.Tensor2D; // [B, C]
      h = tf.add(h, tf.reshape(t, [t.shape[0], 1, 1, t.shape[1]]));
    }
    // dropout is 0 in Stable Diffusion
    h = conv2d(params, `${p}.conv2`, groupNormSiluP(params, `${p}.norm2`, h, groups, eps));
    // a 1×1 conv shortcut exactly when the block changes the channel count (diffusers `use_in_shortcut`)
    const shortcut = x.shape[3] !== h.shape[3] ? conv2d(params, `${p}.conv_shortcut`, x) : x;
    return tf.add(shortcut, h) as tf.Tensor4D;
  });
}

/** diffusers `Attention` with `to_q/to_k/to_v/to_out.0`: self-attention when `context` is null. */
function attentionBlock(params: Params, p: string, x: tf.Tensor3D, context: tf.Tensor3D | null, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const ctx = context ?? x;
    const q = linear(params, `${p}.to_q`, x, false) as tf.Tensor3D;
    const k = linear(params, `${p}.to_k`, ctx, false) as tf.Tensor3D;
    const v = linear(params, `${p}.to_v`, ctx, false) as tf.Tensor3D;
    return linear(params, `${p}.to_out.0`, attention(q, k, v, heads)) as tf.Tensor3D;
  });
}

/**
 * diffusers `BasicTransformerBlock` (pre-LayerNorm): self-attention, cross-attention to the text,
 * GEGLU feed-forward (Shazeer 2020: proj → [h, g], h · GELU(g)), each with a residual.
 */
function basicTransformerBlock(params: Params, p: string, x: tf.Tensor3D, context: tf.Tensor3D, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const eps = TRANSFORMER_LAYER_NORM_EPS;
    let h = tf.add(x, attentionBlock(params, `${p}.attn1`, layerNormP(params, `${p}.norm1`, x, eps) as tf.Tensor3D, null, heads));
    h = tf.add(h, attentionBlock(params, `${p}.attn2`, layerNormP(params, `${p}.norm2`, h, eps) as tf.Tensor3D, context, heads));
    const [a, gate] = tf.split(linear(params, `${p}.ff.net.0.proj`, layerNormP(params, `${p}.norm3`, h, eps)), 2, -1);
    const ff = linear(params, `${p}.ff.net.2`, tf.mul(a, gelu(gate)));
    return tf.add(h, ff) as tf.Tensor3D;
  });
}

/**
 * diffusers `Transformer2DModel` (continuous input): GroupNorm, proj_in (1×1 conv, or linear when
 * use_linear_projection), one BasicTransformerBlock over the H·W tokens, proj_out, residual.
 */
function transformer2d(
  params: Params,
  p: string,
  x: tf.Tensor4D,
  context: tf.Tensor3D,
  heads: number,
  groups: number,
  linearProjection: boolean,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W] = x.shape;
    const normed = groupNormP(params, `${p}.norm`, x, groups, TRANSFORMER_NORM_EPS);
    const projIn = (linearProjection ? linear(params, `${p}.proj_in`, normed) : conv2d(params, `${p}.proj_in`, normed)) as tf.Tensor4D;
    const inner = projIn.shape[3];
    let h = tf.reshape(projIn, [B, H * W, inner]) as tf.Tensor3D;
    h = basicTransformerBlock(params, `${p}.transformer_blocks.0`, h, context, heads);
    const h4 = tf.reshape(h, [B, H, W, inner]) as tf.Tensor4D;
    const out = linearProjection ? linear(params, `${p}.proj_out`, h4) : conv2d(params, `${p}.proj_out`, h4);
    return tf.add(out, x) as tf.Tensor4D;
  });
}

/** diffusers `Downsample2D(use_conv=True, padding=1)`: 3×3 stride-2 conv, symmetric padding 1. */
function downsample(params: Params, p: string, x: tf.Tensor4D): tf.Tensor4D {
  return conv2dStride2(params, `${p}.conv`, x, [1, 1, 1, 1]);
}

/** diffusers `Upsample2D(use_conv=True)`: nearest ×2, then a 3×3 conv. */
function upsample(params: Params, p: string, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => conv2d(params, `${p}.conv`, upsampleNearest2x(x)));
}

/**
 * diffusers `AttentionPooling.forward`: the mean token plus the positional embedding is a class
 * token, prepended to the tokens; it attends over all L + 1 of them with `heads` heads and its
 * output, heads concatenated, is the result. x [B, L, W] → [B, W].
 * diffusers scales q and k by d^(−1/4) each (for float16); `attention` scales q by d^(−1/2): the
 * same scores in exact arithmetic.
 */
export function attentionPooling(params: Params, p: string, x: tf.Tensor3D, heads: number): tf.Tensor2D {
  const [B, , W] = x.shape;
  if (W % heads !== 0) throw new Error(`attention pooling "${p}": width ${W} is not divisible by ${heads} heads`);
  return tf.tidy(() => {
    const classToken = tf.add(tf.mean(x, 1, true), param(params, `${p}.positional_embedding`)) as tf.Tensor3D; // [B, 1, W]
    const tokens = tf.concat([classToken, x], 1) as tf.Tensor3D; // [B, L + 1, W]
    const q = linear(params, `${p}.q_proj`, classToken) as tf.Tensor3D;
    const k = linear(params, `${p}.k_proj`, tokens) as tf.Tensor3D;
    const v = linear(params, `${p}.v_proj`, tokens) as tf.Tensor3D;
    return tf.reshape(attention(q, k, v, heads), [B, W]) as tf.Tensor2D;
  });
}

/**
 * diffusers `TextTimeEmbedding.forward`: LayerNorm, attention pooling, linear to the time
 * embedding's width, LayerNorm. encoderHiddenStates [B, S, D] → [B, timeEmbedDim].
 */
export function textTimeEmbedding(params: Params, p: string, encoderHiddenStates: tf.Tensor3D, heads: number): tf.Tensor2D {
  return tf.tidy(() => {
    const eps = TEXT_TIME_LAYER_NORM_EPS;
    const normed = layerNormP(params, `${p}.norm1`, encoderHiddenStates, eps) as tf.Tensor3D;
    const pooled = attentionPooling(params, `${p}.pool`, normed, heads);
    return layerNormP(params, `${p}.norm2`, linear(params, `${p}.proj`, pooled), eps) as tf.Tensor2D;
  });
}

/** Checks the U-Net's inputs against the config; errors name the input and what it needs. */
function checkUNetInputs(config: UNetConfig, sample: tf.Tensor, timesteps: tf.Tensor, ehs: tf.Tensor): void {
  if (sample.rank !== 4) throw new Error(`unetForward: sample must be [B, H, W, C] (NHWC), got shape [${sample.shape}]`);
  const [B, H, W, C] = sample.shape;
  if (C !== config.in_channels) throw new Error(`unetForward: sample has ${C} channels; the config's in_channels is ${config.in_channels}`);
  const f = 2 ** (config.block_out_channels.length - 1);
  if (H % f !== 0 || W % f !== 0) {
    throw new Error(`unetForward: sample is ${H}×${W}; height and width must be multiples of ${f} (2^(levels − 1))`);
  }
  if (!(timesteps.rank === 0 || (timesteps.rank === 1 && (timesteps.shape[0] === B || timesteps.shape[0] === 1)))) {
    throw new Error(`unetForward: timesteps must be a scalar or of shape [${B}] (one per sample), got [${timesteps.shape}]`);
  }
  if (ehs.rank !== 3 || ehs.shape[0] !== B || ehs.shape[2] !== config.cross_attention_dim) {
    throw new Error(
      `unetForward: encoderHiddenStates must be [${B}, S, ${config.cross_attention_dim}] (batch, tokens, cross_attention_dim), got [${ehs.shape}]`,
    );
  }
}

/**
 * The U-Net's noise prediction ε_θ(x_t, t, c) (diffusers `UNet2DConditionModel.forward`):
 * 1. time: sinusoidal embedding of t → TimestepEmbedding MLP (linear, SiLU, linear), plus, with
 *    `addition_embed_type: "text"`, the TextTimeEmbedding of encoderHiddenStates;
 * 2. conv_in; down blocks (resnet [+ transformer] per layer, then Downsample2D), each output kept as a skip;
 * 3. mid block: resnet, transformer, resnet;
 * 4. up blocks: per layer concatenate the last skip, resnet [+ transformer]; then Upsample2D;
 * 5. GroupNorm, SiLU, conv_out.
 * sample [B, H, W, in_channels] NHWC, timesteps [B] (or scalar), encoderHiddenStates [B, S, cross_attention_dim]
 * → [B, H, W, out_channels].
 */
export function unetForward(
  params: Params,
  config: UNetConfig,
  sample: tf.Tensor4D,
  timesteps: tf.Tensor,
  encoderHiddenStates: tf.Tensor3D,
): tf.Tensor4D {
  checkUNetInputs(config, sample, timesteps, encoderHiddenStates);
  const c = config;
  const groups = c.norm_num_groups;
  const eps = c.norm_eps;
  const lin = c.use_linear_projection;
  const levels = unetLevels(c);
  const addition = unetAdditionEmbedding(c);
  const B = sample.shape[0];
  return tf.tidy(() => {
    // 1. time embedding [B, 4·ch0]
    const t = tf.broadcastTo(tf.reshape(tf.cast(timesteps, "float32"), [-1]), [B]) as tf.Tensor1D;
    const tproj = timestepEmbedding(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
    let temb = linear(params, "time_embedding.linear_2", silu(linear(params, "time_embedding.linear_1", tproj))) as tf.Tensor2D;
    // diffusers: emb = emb + aug_emb, before the resnets (which apply their own SiLU); no time_embed_act
    if (addition) temb = tf.add(temb, textTimeEmbedding(params, "add_embedding", encoderHiddenStates, addition.heads)) as tf.Tensor2D;

    // 2. down path
    let h = conv2d(params, "conv_in", sample);
    const skips: tf.Tensor4D[] = [h];
    for (const L of levels) {
      for (let j = 0; j < c.layers_per_block; j++) {
        h = resnetBlock(params, `down_blocks.${L.index}.resnets.${j}`, h, temb, groups, eps);
        if (L.crossAttention) h = transformer2d(params, `down_blocks.${L.index}.attentions.${j}`, h, encoderHiddenStates, L.heads, groups, lin);
        skips.push(h);
      }
      if (L.resample) {
        h = downsample(params, `down_blocks.${L.index}.downsamplers.0`, h);
        skips.push(h);
      }
    }

    // 3. mid block
    const mid = levels[levels.length - 1];
    h = resnetBlock(params, "mid_block.resnets.0", h, temb, groups, eps);
    h = transformer2d(params, "mid_block.attentions.0", h, encoderHiddenStates, mid.heads, groups, lin);
    h = resnetBlock(params, "mid_block.resnets.1", h, temb, groups, eps);

    // 4. up path, consuming the skips last-in first-out
    [...levels].reverse().forEach((L, i) => {
      for (let j = 0; j <= c.layers_per_block; j++) {
        h = tf.concat([h, skips.pop()!], 3);
        h = resnetBlock(params, `up_blocks.${i}.resnets.${j}`, h, temb, groups, eps);
        if (L.crossAttention) h = transformer2d(params, `up_blocks.${i}.attentions.${j}`, h, encoderHiddenStates, L.heads, groups, lin);
      }
      if (i < levels.length - 1) h = upsample(params, `up_blocks.${i}.upsamplers.0`, h);
    });

    // 5. output head
    h = groupNormSiluP(params, "conv_norm_out", h, groups, eps);
    return conv2d(params, "conv_out", h);
  });
}
