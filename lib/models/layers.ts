/**
 * Building blocks shared by the U-Net, the VAE and the CLIP text encoder, in the functional style:
 * parameters are looked up by diffusers name in a `Params` map, activations are NHWC.
 *
 * Every op here has a forward kernel in tfjs-backend-wasm 4.22 (Conv2D/FusedConv2D, _FusedMatMul,
 * BatchMatMul, Softmax, GatherV2, ResizeNearestNeighbor, Mean, Rsqrt, Erf, Sigmoid, PadV2, …).
 * 1×1 convolutions run as matrix products, whose gradients need no Conv2DBackpropFilter.
 *
 * Convolutions, linear layers and attention products add their multiply-add count (×2) to the
 * active FLOP counter, if any (`measureFlops`): the analytic count in pipeline.ts is tested against it.
 */
import * as tf from "@tensorflow/tfjs-core";
import "../kernels"; // gradient functions for training: tfjs-core's CommonJS build registers none
import { groupNormFused, hasFusedGroupNorm } from "../kernels/groupnorm";
import { flipFilter } from "../kernels/conv";
import { oneDnnActive } from "../kernels/native";
import { Params } from "./params";

// ---------------------------------------------------------------------------------------------
// FLOP accounting (instrumentation for tests and the bench; off unless measureFlops is running)

let flopCounter: { flops: number } | null = null;

function addFlops(n: number): void {
  if (flopCounter) flopCounter.flops += n;
}

/** Runs `fn` and returns the FLOPs (2 × multiply-adds of convs, linears and attention) it executed. */
export function measureFlops<T>(fn: () => T): { result: T; flops: number } {
  const prev = flopCounter;
  flopCounter = { flops: 0 };
  try {
    const result = fn();
    return { result, flops: flopCounter.flops };
  } finally {
    flopCounter = prev;
  }
}

// ---------------------------------------------------------------------------------------------
// Parameter access

/** The parameter `name`, or an error saying that the Params do not match the config. */
export function param(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (!v) {
    throw new Error(
      `missing parameter "${name}" (the Params map has ${params.size} entries): were they allocated from the same config's param specs?`,
    );
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Linear maps

/** torch `nn.Linear`: x [..., in] → [..., out], weight [in, out] (tfjs layout), optional bias. */
export function linear(params: Params, prefix: string, x: tf.Tensor, bias = true): tf.Tensor {
  const w = param(params, `${prefix}.weight`);
  const [inF, outF] = w.shape;
  const lead = x.shape.slice(0, -1);
  const m = lead.reduce((a, b) => a * b, 1);
  if (x.shape[x.rank - 1] !== inF) {
    throw new Error(`linear "${prefix}": input has ${x.shape[x.rank - 1]} features, weight expects ${inF}`);
  }
  addFlops(2 * m * inF * outF);
  const b = bias ? param(params, `${prefix}.bias`) : undefined;
  return tf.tidy(() => {
    const y = tf.fused.matMul({ a: tf.reshape(x, [m, inF]) as tf.Tensor2D, b: w as tf.Tensor2D, bias: b });
    return tf.reshape(y, [...lead, outF]);
  });
}

/**
 * How the gradient of a k×k convolution with respect to its kernel is computed:
 * - "native": the backend's Conv2DBackpropFilter kernel;
 * - "im2col" (the project's, through `tf.customGrad`; the name is historical): one forward
 *   convolution of the input with the output gradient, batch and channels swapped (see
 *   convIm2colGrad); the forward pass and the input gradient stay native.
 * - "auto" (default): the backend's own where the wasm kernels run on oneDNN (lib/kernels/native:
 *   its convolution gradients beat the rewrite and its transposes), the project's elsewhere: faster
 *   than the cpu backend's scalar loop (about 50×) and than the wasm filter-gradient kernel (about 6×
 *   at 64×64×32).
 */
export type ConvFilterGradient = "auto" | "native" | "im2col";
let convFilterGradient: ConvFilterGradient = "auto";

export function setConvFilterGradient(mode: ConvFilterGradient): void {
  if (!["auto", "native", "im2col"].includes(mode)) {
    throw new Error(`setConvFilterGradient: unknown mode "${mode}"; known: auto, native, im2col`);
  }
  convFilterGradient = mode;
}

export function getConvFilterGradient(): ConvFilterGradient {
  return convFilterGradient;
}

function useIm2colGradient(): boolean {
  return convFilterGradient === "im2col" || (convFilterGradient === "auto" && !oneDnnActive());
}

/** The k×k patches of x (already padded) at stride s: [B, oh, ow, kh·kw·C], ordered (di, dj, c) like a tfjs kernel. */
export function im2col(xp: tf.Tensor4D, kh: number, kw: number, stride: number): tf.Tensor4D {
  const [B, H, W, C] = xp.shape;
  const oh = Math.floor((H - kh) / stride) + 1;
  const ow = Math.floor((W - kw) / stride) + 1;
  return tf.tidy(() => {
    const cols: tf.Tensor4D[] = [];
    for (let di = 0; di < kh; di++) {
      for (let dj = 0; dj < kw; dj++) {
        cols.push(
          stride === 1
            ? tf.slice(xp, [0, di, dj, 0], [B, oh, ow, C]) // the cpu backend's slice is much faster than its stridedSlice
            : (tf.stridedSlice(xp, [0, di, dj, 0], [B, di + stride * (oh - 1) + 1, dj + stride * (ow - 1) + 1, C], [1, stride, stride, 1]) as tf.Tensor4D),
        );
      }
    }
    return tf.concat(cols, 3);
  });
}

/** conv2d(pad(x), w, stride, "valid") + b, with the kernel gradient by im2col (see ConvFilterGradient). */
function convIm2colGrad(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, stride: number, pad: [number, number, number, number]): tf.Tensor4D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, wi, bi, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const xp = tf.pad(xi as tf.Tensor4D, [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]]);
    save([xp, wi]);
    const value = tf.add(tf.conv2d(xp, wi as tf.Tensor4D, stride, "valid"), bi);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xps, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
      const [kh, kw, C, O] = ws.shape;
      const [B] = dy.shape;
      const dy4 = dy as tf.Tensor4D;
      // dL/dx: the transposed convolution, cropped back to x's extent. At stride 1 it is a
      // "valid" convolution of dy padded by (k − 1 − p) with the flipped filter, which gives x's
      // extent directly (no wasted border rows: a 4×4 map would otherwise be computed as 6×6).
      const [, Hp, Wp] = xps.shape;
      const dx =
        stride === 1 && pad.every((p, i) => p <= (i < 2 ? kh : kw) - 1)
          ? tf.conv2d(tf.pad(dy4, [[0, 0], [kh - 1 - pad[0], kh - 1 - pad[1]], [kw - 1 - pad[2], kw - 1 - pad[3]], [0, 0]]), flipFilter(ws), 1, "valid")
          : tf.slice(tf.conv2dTranspose(dy4, ws, xps.shape as [number, number, number, number], stride, "valid"), [0, pad[0], pad[2], 0], [B, Hp - pad[0] - pad[1], Wp - pad[2] - pad[3], C]);
      // dL/dw as one forward convolution with batch and channels swapped (dw[i,j,c,o] =
      // Σ_{b,h,w} xp[b, s·h+i, s·w+j, c] · dy[b,h,w,o]): x becomes a batch of C one-"pixel"-deep
      // images with B channels, dy the filter [oh, ow, B, O], dilated by the stride. Measured on wasm
      // at 64×64×32: 43 ms against 70 ms for im2col + matMul and 247 ms for Conv2DBackpropFilter.
      const xs = tf.transpose(xps, [3, 1, 2, 0]) as tf.Tensor4D; // [C, Hp, Wp, B]
      const f = tf.transpose(dy4, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, B, O]
      const full = tf.conv2d(xs, f, 1, "valid", "NHWC", stride); // [C, ≥kh, ≥kw, O]
      const dw = tf.transpose(tf.slice(full, [0, 0, 0, 0], [C, kh, kw, O]), [1, 2, 0, 3]);
      const db = tf.sum(dy, [0, 1, 2]);
      return [dx, dw, db];
    };
    return { value, gradFunc };
  });
  return f(x, w, b) as tf.Tensor4D;
}

/**
 * torch `nn.Conv2d` with stride 1 and "same" zero padding ((k−1)/2 each side, which torch's
 * `padding=1` for k = 3 is). A 1×1 kernel runs as a matrix product over channels.
 */
export function conv2d(params: Params, prefix: string, x: tf.Tensor4D): tf.Tensor4D {
  const w = param(params, `${prefix}.weight`) as tf.Tensor as tf.Tensor4D;
  const b = param(params, `${prefix}.bias`) as tf.Tensor as tf.Tensor1D;
  const [kh, kw, inC, outC] = w.shape;
  const [B, H, W, C] = x.shape;
  if (C !== inC) throw new Error(`conv "${prefix}": input has ${C} channels, kernel expects ${inC}`);
  addFlops(2 * B * H * W * kh * kw * inC * outC);
  if (kh === 1 && kw === 1) {
    return tf.tidy(() => {
      const y = tf.fused.matMul({ a: tf.reshape(x, [B * H * W, C]) as tf.Tensor2D, b: tf.reshape(w, [inC, outC]) as tf.Tensor2D, bias: b });
      return tf.reshape(y, [B, H, W, outC]);
    });
  }
  if (useIm2colGradient()) {
    const ph = (kh - 1) / 2;
    const pw = (kw - 1) / 2;
    return convIm2colGrad(x, w, b, 1, [ph, ph, pw, pw]);
  }
  return tf.fused.conv2d({ x, filter: w, strides: 1, pad: "same", bias: b });
}

/**
 * torch `nn.Conv2d(k=3, stride=2)` with explicit zero padding [top, bottom, left, right] then
 * "valid": tfjs's "same" pads stride-2 convolutions asymmetrically, torch pads as told.
 */
export function conv2dStride2(params: Params, prefix: string, x: tf.Tensor4D, pad: [number, number, number, number]): tf.Tensor4D {
  const w = param(params, `${prefix}.weight`) as tf.Tensor as tf.Tensor4D;
  const b = param(params, `${prefix}.bias`) as tf.Tensor as tf.Tensor1D;
  const [kh, kw, inC, outC] = w.shape;
  const [B, H, W, C] = x.shape;
  if (C !== inC) throw new Error(`conv "${prefix}": input has ${C} channels, kernel expects ${inC}`);
  const oh = Math.floor((H + pad[0] + pad[1] - kh) / 2) + 1;
  const ow = Math.floor((W + pad[2] + pad[3] - kw) / 2) + 1;
  addFlops(2 * B * oh * ow * kh * kw * inC * outC);
  if (useIm2colGradient()) return convIm2colGrad(x, w, b, 2, pad);
  return tf.tidy(() => {
    const xp = tf.pad(x, [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]]);
    return tf.fused.conv2d({ x: xp, filter: w, strides: 2, pad: "valid", bias: b });
  });
}

// ---------------------------------------------------------------------------------------------
// Embedding lookup

/**
 * Rows `ids` of `table` [V, D] → [N, D] (torch `nn.Embedding`). The gradient is a scatter-add of
 * the output gradient into [V, D] (ScatterNd sums duplicate ids), O(N·D): tfjs's own gradient of
 * gather goes through UnsortedSegmentSum, which the cpu backend runs once per table row (minutes
 * for CLIP's 49,408-token vocabulary) and the wasm backend lacks.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const [V, D] = table.shape;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    // the ids must be saved: the caller's tidy disposes them before the backward pass runs
    save([ids]);
    const value = tf.gather(t, ids);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [tf.scatterND(tf.reshape(saved[0], [-1, 1]), dy as tf.Tensor, [V, D])];
    return { value, gradFunc };
  });
  return f(table) as tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------
// Normalisations

/**
 * GroupNorm (Wu & He 2018; torch `nn.GroupNorm`) on NHWC: statistics over (H, W, C/G) per sample
 * and group, biased variance, then the per-channel affine map.
 */
export function groupNorm(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number, opts: { silu?: boolean } = {}): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  if (C % groups !== 0) throw new Error(`groupNorm: ${C} channels are not divisible into ${groups} groups`);
  // the host backends run it as one kernel with a hand-written gradient (lib/kernels/groupnorm.ts)
  if (useFusedGroupNorm && hasFusedGroupNorm() && x.dtype === "float32") return groupNormFused(x, gamma, beta, { groups, eps, silu: !!opts.silu });
  if (opts.silu) return tf.tidy(() => silu(groupNorm(x, gamma, beta, groups, eps)) as tf.Tensor4D);
  return tf.tidy(() => {
    const xg = tf.reshape(x, [B, H * W, groups, C / groups]);
    const mean = tf.mean(xg, [1, 3], true);
    const centred = tf.sub(xg, mean);
    const variance = tf.mean(tf.square(centred), [1, 3], true);
    const normed = tf.reshape(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), [B, H, W, C]);
    return tf.add(tf.mul(normed, gamma), beta) as tf.Tensor4D;
  });
}

/** GroupNorm with the parameters `${prefix}.weight` / `${prefix}.bias`. */
export function groupNormP(params: Params, prefix: string, x: tf.Tensor4D, groups: number, eps: number): tf.Tensor4D {
  return groupNorm(x, param(params, `${prefix}.weight`), param(params, `${prefix}.bias`), groups, eps);
}

/** SiLU(GroupNorm(x)) with the parameters `${prefix}.weight` / `${prefix}.bias` (one kernel on the host backends). */
export function groupNormSiluP(params: Params, prefix: string, x: tf.Tensor4D, groups: number, eps: number): tf.Tensor4D {
  return groupNorm(x, param(params, `${prefix}.weight`), param(params, `${prefix}.bias`), groups, eps, { silu: true });
}

let useFusedGroupNorm = true;
/** Route GroupNorm through tfjs ops even where the fused kernel exists (for tests and benchmarks). */
export function setFusedGroupNorm(on: boolean): void {
  useFusedGroupNorm = on;
}

/** LayerNorm over the last axis (Ba et al. 2016; torch `nn.LayerNorm`), biased variance. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), axis, true);
    return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
  });
}

/** LayerNorm with the parameters `${prefix}.weight` / `${prefix}.bias`. */
export function layerNormP(params: Params, prefix: string, x: tf.Tensor, eps: number): tf.Tensor {
  return layerNorm(x, param(params, `${prefix}.weight`), param(params, `${prefix}.bias`), eps);
}

// ---------------------------------------------------------------------------------------------
// Activations

/** SiLU / swish: x · σ(x) (Elfwing et al. 2017; torch `F.silu`). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/** Exact GELU: x · Φ(x) = ½ x (1 + erf(x/√2)) (Hendrycks & Gimpel 2016; torch `F.gelu`). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** OpenAI CLIP's quick GELU: x · σ(1.702 x) (transformers `QuickGELUActivation`). */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

// ---------------------------------------------------------------------------------------------
// Attention

/**
 * Multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1):
 * softmax(Q Kᵀ / √d + mask) V per head, heads split from and merged back into the feature axis
 * (torch `F.scaled_dot_product_attention` as diffusers `AttnProcessor2_0` calls it).
 * q [B, N, h·d], k and v [B, M, h·d]; `mask` is additive, broadcastable to [B·h, N, M].
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number, mask?: tf.Tensor): tf.Tensor3D {
  const [B, N, inner] = q.shape;
  const M = k.shape[1];
  if (inner % heads !== 0) throw new Error(`attention: width ${inner} is not divisible by ${heads} heads`);
  const d = inner / heads;
  addFlops(2 * 2 * B * heads * N * M * d);
  return tf.tidy(() => {
    // [B, n, h·d] → [B·h, n, d] (or [B·h, d, n] with `perm` [0, 2, 3, 1]): explicit transposes, because
    // tfjs-backend-wasm's BatchMatMul is ~10× slower with a transpose flag than without.
    const split = (t: tf.Tensor3D, n: number, perm = [0, 2, 1, 3]) =>
      tf.reshape(tf.transpose(tf.reshape(t, [B, n, heads, d]), perm), perm[2] === 1 ? [B * heads, n, d] : [B * heads, d, n]) as tf.Tensor3D;
    const qh = split(tf.mul(q, 1 / Math.sqrt(d)) as tf.Tensor3D, N); // scaling q costs N·d, the scores N·M
    const khT = split(k, M, [0, 2, 3, 1]); // [B·h, d, M]
    const vh = split(v, M);
    let scores = tf.matMul(qh, khT); // [B·h, N, M]
    if (mask) scores = tf.add(scores, mask);
    const probs = tf.softmax(scores, -1);
    const out = tf.matMul(probs, vh); // [B·h, N, d]
    return tf.reshape(tf.transpose(tf.reshape(out, [B, heads, N, d]), [0, 2, 1, 3]), [B, N, inner]) as tf.Tensor3D;
  });
}

// ---------------------------------------------------------------------------------------------
// Timestep embedding

/**
 * The sinusoidal timestep embedding of DDPM (Ho et al. 2020, after Vaswani et al. 2017 §3.5), as
 * diffusers `get_timestep_embedding` computes it: with half = dim/2 and
 * freq_k = exp(−ln(maxPeriod) · k / (half − shift)), emb = [sin(t·freq), cos(t·freq)],
 * swapped to [cos, sin] when `flipSinToCos` (Stable Diffusion). Frequencies are rounded through
 * float32 the way torch computes them. timesteps [B] → [B, dim].
 */
export function timestepFrequencies(dim: number, downscaleFreqShift: number, maxPeriod = 10000): Float32Array {
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) throw new Error(`timestep embedding: dim must be an even integer ≥ 2 (got ${dim})`);
  const half = dim / 2;
  if (half - downscaleFreqShift === 0) throw new Error(`timestep embedding: dim/2 − shift must not be 0 (dim ${dim}, shift ${downscaleFreqShift})`);
  const f = Math.fround;
  const out = new Float32Array(half);
  const a = f(-Math.log(maxPeriod));
  for (let k = 0; k < half; k++) out[k] = f(Math.exp(f(f(a * k) / (half - downscaleFreqShift))));
  return out;
}

export function timestepEmbedding(
  timesteps: tf.Tensor1D,
  dim: number,
  flipSinToCos: boolean,
  downscaleFreqShift: number,
  maxPeriod = 10000,
): tf.Tensor2D {
  const freqs = timestepFrequencies(dim, downscaleFreqShift, maxPeriod);
  return tf.tidy(() => {
    const t = tf.cast(timesteps, "float32");
    const args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, freqs.length])); // [B, half]
    const sin = tf.sin(args);
    const cos = tf.cos(args);
    return tf.concat(flipSinToCos ? [cos, sin] : [sin, cos], 1) as tf.Tensor2D;
  });
}

// ---------------------------------------------------------------------------------------------
// Resampling

/** Nearest-neighbour ×2 upsampling (torch `F.interpolate(scale_factor=2, mode="nearest")`). */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  // Forward: tfjs's nearest resize. Backward: each input pixel's gradient is the sum over its 2×2
  // block, as two rank-3 sums, written out because tfjs-backend-wasm 4.22's ResizeNearestNeighborGrad
  // returns wrong gradients (the wasm-vs-cpu U-Net test caught it) and the webgpu backend cannot sum
  // the rank-8 reshape that a broadcast's gradient makes.
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const value = tf.image.resizeNearestNeighbor(args[0] as tf.Tensor4D, [2 * H, 2 * W], false, false);
    const gradFunc = (dy: tf.Tensor | tf.Tensor[]) => {
      const rows = tf.sum(tf.reshape(dy as tf.Tensor, [B * H, 2, 2 * W * C]), 1); // [B·H, 2W·C]
      return [tf.reshape(tf.sum(tf.reshape(rows, [B * H * W, 2, C]), 1), [B, H, W, C])];
    };
    return { value, gradFunc };
  });
  return f(x) as tf.Tensor4D;
}
