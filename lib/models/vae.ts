/**
 * Stable Diffusion's KL autoencoder (Rombach et al. 2022, §3.1; diffusers `AutoencoderKL`:
 * `Encoder` with DownEncoderBlock2D, `Decoder` with UpDecoderBlock2D, UNetMidBlock2D with one
 * single-head spatial attention, `quant_conv` / `post_quant_conv`).
 *
 * Images are NHWC in [−1, 1]; latents are NHWC with `latent_channels`. The U-Net works on
 * latents × `scaling_factor` (`scaleLatents` / `unscaleLatents`).
 */
import * as tf from "@tensorflow/tfjs-core";
import { VaeConfig } from "./config";
import { attention, conv2d, conv2dStride2, groupNormP, groupNormSiluP, linear, upsampleNearest2x } from "./layers";
import { ParamSpec, Params } from "./params";
import { SpecBuilder } from "./spec-builder";
import { resnetBlock } from "./unet";

/** diffusers' VAE epsilon for every GroupNorm (`resnet_eps=1e-6` in Encoder/Decoder). */
export const VAE_NORM_EPS = 1e-6;

/**
 * Old diffusers checkpoints (among them runwayml/stable-diffusion-v1-5's `vae/`) name the VAE
 * attention's projections `query/key/value/proj_attn`; diffusers renames them on load
 * (`_convert_deprecated_attention_blocks`). Old suffix → current suffix, same shapes.
 */
export const VAE_DEPRECATED_ATTENTION_NAMES: Record<string, string> = {
  "query.weight": "to_q.weight",
  "query.bias": "to_q.bias",
  "key.weight": "to_k.weight",
  "key.bias": "to_k.bias",
  "value.weight": "to_v.weight",
  "value.bias": "to_v.bias",
  "proj_attn.weight": "to_out.0.weight",
  "proj_attn.bias": "to_out.0.bias",
};

/** The current diffusers name of a possibly deprecated VAE parameter name. */
export function vaeCurrentName(name: string): string {
  const m = /^(.*\.mid_block\.attentions\.0\.)(query|key|value|proj_attn)\.(weight|bias)$/.exec(name);
  return m ? m[1] + VAE_DEPRECATED_ATTENTION_NAMES[`${m[2]}.${m[3]}`] : name;
}

// ---------------------------------------------------------------------------------------------
// Parameter specs

function resnetSpecs(s: SpecBuilder, p: string, inC: number, outC: number): void {
  s.norm(`${p}.norm1`, inC);
  s.conv(`${p}.conv1`, inC, outC, 3);
  s.norm(`${p}.norm2`, outC);
  s.conv(`${p}.conv2`, outC, outC, 3);
  if (inC !== outC) s.conv(`${p}.conv_shortcut`, inC, outC, 1);
}

function midBlockSpecs(s: SpecBuilder, p: string, ch: number, attention: boolean): void {
  resnetSpecs(s, `${p}.resnets.0`, ch, ch);
  if (attention) {
    const a = `${p}.attentions.0`;
    s.norm(`${a}.group_norm`, ch);
    s.linear(`${a}.to_q`, ch, ch);
    s.linear(`${a}.to_k`, ch, ch);
    s.linear(`${a}.to_v`, ch, ch);
    s.linear(`${a}.to_out.0`, ch, ch);
  }
  resnetSpecs(s, `${p}.resnets.1`, ch, ch);
}

/** Every parameter of the autoencoder, by diffusers name, in tfjs layout (no allocation). */
export function vaeParamSpecs(config: VaeConfig): ParamSpec[] {
  const c = config;
  const s = new SpecBuilder();
  const boc = c.block_out_channels;
  const n = boc.length;
  const L = c.latent_channels;

  // Encoder
  s.conv("encoder.conv_in", c.in_channels, boc[0], 3);
  let outC = boc[0];
  for (let i = 0; i < n; i++) {
    const inC = outC;
    outC = boc[i];
    for (let j = 0; j < c.layers_per_block; j++) resnetSpecs(s, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? inC : outC, outC);
    if (i < n - 1) s.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, outC, outC, 3);
  }
  midBlockSpecs(s, "encoder.mid_block", boc[n - 1], c.mid_block_add_attention);
  s.norm("encoder.conv_norm_out", boc[n - 1]);
  s.conv("encoder.conv_out", boc[n - 1], 2 * L, 3); // double_z: mean and log-variance

  // Decoder
  s.conv("decoder.conv_in", L, boc[n - 1], 3);
  midBlockSpecs(s, "decoder.mid_block", boc[n - 1], c.mid_block_add_attention);
  const rev = [...boc].reverse();
  outC = rev[0];
  for (let i = 0; i < n; i++) {
    const prev = outC;
    outC = rev[i];
    for (let j = 0; j <= c.layers_per_block; j++) resnetSpecs(s, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : outC, outC);
    if (i < n - 1) s.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3);
  }
  s.norm("decoder.conv_norm_out", boc[0]);
  s.conv("decoder.conv_out", boc[0], c.out_channels, 3);

  s.conv("quant_conv", 2 * L, 2 * L, 1);
  s.conv("post_quant_conv", L, L, 1);
  return s.specs;
}

// ---------------------------------------------------------------------------------------------
// Forward passes

/**
 * The VAE mid block's spatial self-attention (diffusers `Attention` with `group_norm`, one head of
 * width C, biased projections, residual): GN → tokens [B, H·W, C] → attention → to_out → + x.
 */
function spatialSelfAttention(params: Params, p: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = x.shape;
    const h = tf.reshape(groupNormP(params, `${p}.group_norm`, x, groups, VAE_NORM_EPS), [B, H * W, C]);
    const q = linear(params, `${p}.to_q`, h) as tf.Tensor3D;
    const k = linear(params, `${p}.to_k`, h) as tf.Tensor3D;
    const v = linear(params, `${p}.to_v`, h) as tf.Tensor3D;
    const out = linear(params, `${p}.to_out.0`, attention(q, k, v, 1));
    return tf.add(tf.reshape(out, [B, H, W, C]), x) as tf.Tensor4D;
  });
}

function midBlock(params: Params, p: string, x: tf.Tensor4D, groups: number, attention: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    let h = resnetBlock(params, `${p}.resnets.0`, x, null, groups, VAE_NORM_EPS);
    if (attention) h = spatialSelfAttention(params, `${p}.attentions.0`, h, groups);
    return resnetBlock(params, `${p}.resnets.1`, h, null, groups, VAE_NORM_EPS);
  });
}

/** A diagonal Gaussian over latents (diffusers `DiagonalGaussianDistribution`), NHWC. */
export interface LatentDistribution {
  mean: tf.Tensor4D;
  /** log σ², clamped to [−30, 20] as diffusers does */
  logvar: tf.Tensor4D;
}

/**
 * Encoder (diffusers `Encoder.forward` then `quant_conv`): conv_in; per level resnets then a
 * stride-2 conv padded (0, 1, 0, 1) (diffusers `Downsample2D(padding=0)`); mid block; GN, SiLU,
 * conv_out; quant_conv; split channels into mean and log-variance.
 * images [B, H, W, in_channels] in [−1, 1] → latents' distribution [B, H/f, W/f, latent_channels].
 */
export function vaeEncode(params: Params, config: VaeConfig, images: tf.Tensor4D): LatentDistribution {
  const c = config;
  if (images.rank !== 4 || images.shape[3] !== c.in_channels) {
    throw new Error(`vaeEncode: images must be [B, H, W, ${c.in_channels}] (NHWC), got [${images.shape}]`);
  }
  const f = vaeDownscaleFactor(c);
  if (images.shape[1] % f !== 0 || images.shape[2] % f !== 0) {
    throw new Error(`vaeEncode: images are ${images.shape[1]}×${images.shape[2]}; height and width must be multiples of ${f}`);
  }
  const g = c.norm_num_groups;
  const n = c.block_out_channels.length;
  const [mean, logvar] = tf.tidy(() => {
    let h = conv2d(params, "encoder.conv_in", images);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < c.layers_per_block; j++) h = resnetBlock(params, `encoder.down_blocks.${i}.resnets.${j}`, h, null, g, VAE_NORM_EPS);
      if (i < n - 1) h = conv2dStride2(params, `encoder.down_blocks.${i}.downsamplers.0.conv`, h, [0, 1, 0, 1]);
    }
    h = midBlock(params, "encoder.mid_block", h, g, c.mid_block_add_attention);
    h = conv2d(params, "encoder.conv_out", groupNormSiluP(params, "encoder.conv_norm_out", h, g, VAE_NORM_EPS));
    const moments = conv2d(params, "quant_conv", h);
    const [m, lv] = tf.split(moments, 2, 3) as tf.Tensor4D[];
    return [m, tf.clipByValue(lv, -30, 20) as tf.Tensor4D];
  });
  return { mean, logvar };
}

/** A seeded sample mean + σ·ε, ε ~ N(0, I) (diffusers `DiagonalGaussianDistribution.sample`). */
export function sampleLatents(dist: LatentDistribution, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const eps = tf.randomNormal(dist.mean.shape, 0, 1, "float32", seed);
    return tf.add(dist.mean, tf.mul(tf.exp(tf.mul(dist.logvar, 0.5)), eps)) as tf.Tensor4D;
  });
}

/** The distribution's mode, its mean (diffusers `DiagonalGaussianDistribution.mode`). */
export function modeLatents(dist: LatentDistribution): tf.Tensor4D {
  return tf.clone(dist.mean);
}

/** Disposes a LatentDistribution's tensors. */
export function disposeDistribution(dist: LatentDistribution): void {
  dist.mean.dispose();
  dist.logvar.dispose();
}

/**
 * Decoder (diffusers `post_quant_conv` then `Decoder.forward`): conv_in; mid block; per level
 * layers_per_block + 1 resnets then nearest ×2 and a conv; GN, SiLU, conv_out.
 * latents [B, h, w, latent_channels] (unscaled) → images [B, h·f, w·f, out_channels], about [−1, 1].
 */
export function vaeDecode(params: Params, config: VaeConfig, latents: tf.Tensor4D): tf.Tensor4D {
  const c = config;
  if (latents.rank !== 4 || latents.shape[3] !== c.latent_channels) {
    throw new Error(`vaeDecode: latents must be [B, h, w, ${c.latent_channels}] (NHWC), got [${latents.shape}]`);
  }
  const g = c.norm_num_groups;
  const n = c.block_out_channels.length;
  return tf.tidy(() => {
    let h = conv2d(params, "post_quant_conv", latents);
    h = conv2d(params, "decoder.conv_in", h);
    h = midBlock(params, "decoder.mid_block", h, g, c.mid_block_add_attention);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= c.layers_per_block; j++) h = resnetBlock(params, `decoder.up_blocks.${i}.resnets.${j}`, h, null, g, VAE_NORM_EPS);
      if (i < n - 1) h = conv2d(params, `decoder.up_blocks.${i}.upsamplers.0.conv`, upsampleNearest2x(h));
    }
    return conv2d(params, "decoder.conv_out", groupNormSiluP(params, "decoder.conv_norm_out", h, g, VAE_NORM_EPS));
  });
}

/** Pixels per latent along each axis: 2^(levels − 1) (8 for SD 1.x). */
export function vaeDownscaleFactor(config: VaeConfig): number {
  return 2 ** (config.block_out_channels.length - 1);
}

/** Latents as the U-Net sees them: z · scaling_factor. */
export function scaleLatents(latents: tf.Tensor4D, config: VaeConfig): tf.Tensor4D {
  return tf.mul(latents, config.scaling_factor) as tf.Tensor4D;
}

/** Back from the U-Net's scale: z / scaling_factor. */
export function unscaleLatents(latents: tf.Tensor4D, config: VaeConfig): tf.Tensor4D {
  return tf.div(latents, config.scaling_factor) as tf.Tensor4D;
}
