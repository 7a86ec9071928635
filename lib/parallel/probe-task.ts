/**
 * A small conv + attention network as a ParallelTask: the test subject of the worker pool and the
 * bench's "test network". It has the U-Net's op mix: 3×3 convs (stride 1 and 2), group
 * normalisation by moments, SiLU, self-attention (batched Q·Kᵀ, softmax, P·V), nearest ×2 upsampling
 * and an MSE loss. Inputs and targets are a fixed function of the seed.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParallelTask, ParamInfo, ShardResult } from "./task";

export interface ProbeConfig {
  seed: number;
  /** Samples in the whole batch. */
  batch: number;
  /** Input height = width. */
  size: number;
  /** Input and output channels. */
  channels: number;
  /** Width of the hidden layers. */
  width: number;
}

export const DEFAULT_PROBE: ProbeConfig = { seed: 0, batch: 4, size: 16, channels: 4, width: 32 };

/** Samples [start, end) of the batch. */
export type ProbeShard = [number, number];

function specs(c: ProbeConfig): ParamInfo[] {
  const w = c.width;
  return [
    { name: "conv_in", shape: [3, 3, c.channels, w] },
    { name: "down", shape: [3, 3, w, w] },
    { name: "q", shape: [w, w] },
    { name: "k", shape: [w, w] },
    { name: "v", shape: [w, w] },
    { name: "o", shape: [w, w] },
    { name: "conv_out", shape: [3, 3, w, c.channels] },
  ];
}

/** Deterministic values in [-1, 1) from a seed (an LCG; only their fixedness matters). */
function lcg(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

/** Group norm over (H, W, C/groups) by moments, as the U-Net does it (no affine). */
function groupNorm(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const g = tf.reshape(x, [b, h, w, groups, c / groups]);
  const { mean, variance } = tf.moments(g, [1, 2, 4], true);
  return tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, 1e-5))), [b, h, w, c]);
}

/** The network's output for x [B, S, S, C]. */
export function probeForward(p: Map<string, tf.Tensor>, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const silu = (t: tf.Tensor) => tf.mul(t, tf.sigmoid(t));
    let h = tf.conv2d(x, p.get("conv_in") as tf.Tensor4D, 1, "same");
    h = silu(groupNorm(h, 8)) as tf.Tensor4D;
    h = tf.conv2d(h, p.get("down") as tf.Tensor4D, 2, [[0, 0], [0, 1], [0, 1], [0, 0]]); // [B, S/2, S/2, w]
    const [b, hh, ww, c] = h.shape;
    const tokens = tf.reshape(h, [b * hh * ww, c]);
    const proj = (n: string) => tf.reshape(tf.matMul(tokens, p.get(n) as tf.Tensor2D), [b, hh * ww, c]);
    const scores = tf.mul(tf.matMul(proj("q"), proj("k"), false, true), 1 / Math.sqrt(c)); // [B, N, N]
    const attn = tf.matMul(tf.softmax(scores), proj("v")); // [B, N, w]
    const out = tf.matMul(tf.reshape(attn, [b * hh * ww, c]), p.get("o") as tf.Tensor2D);
    h = tf.add(h, tf.reshape(out, [b, hh, ww, c]));
    h = tf.image.resizeNearestNeighbor(h, [hh * 2, ww * 2]);
    return tf.conv2d(h, p.get("conv_out") as tf.Tensor4D, 1, "same");
  });
}

/** FLOPs of one forward (2 × multiply-adds of convs, projections and attention products). */
export function probeForwardFlops(c: ProbeConfig, batch = c.batch): number {
  const S = c.size;
  const n = (S / 2) * (S / 2);
  const w = c.width;
  const conv = (h: number, k: number, ci: number, co: number) => 2 * batch * h * h * k * k * ci * co;
  return conv(S, 3, c.channels, w) + conv(S / 2, 3, w, w) + 4 * 2 * batch * n * w * w + 2 * 2 * batch * n * n * w + conv(S, 3, w, c.channels);
}

/** Inputs and targets of samples [start, end). */
function batchData(c: ProbeConfig, start: number, end: number): { x: tf.Tensor4D; y: tf.Tensor4D } {
  const per = c.size * c.size * c.channels;
  const all = lcg(c.batch * per * 2, c.seed + 1000);
  const x = tf.tensor4d(all.subarray(start * per, end * per), [end - start, c.size, c.size, c.channels]);
  const y = tf.tensor4d(all.subarray((c.batch + start) * per, (c.batch + end) * per), [end - start, c.size, c.size, c.channels]);
  return { x, y };
}

let instances = 0;

/** Build the task (its variables live on the current backend). */
export function setup(config: Partial<ProbeConfig> = {}): ParallelTask<ProbeShard> & { dispose(): void } {
  const c: ProbeConfig = { ...DEFAULT_PROBE, ...(config ?? {}) };
  if (c.size % 2 !== 0) throw new Error(`probe task: size must be even, got ${c.size}`);
  if (c.width % 8 !== 0) throw new Error(`probe task: width must be a multiple of 8 (groups), got ${c.width}`);
  const params = specs(c);
  instances++;
  const vars = new Map<string, tf.Variable>();
  params.forEach((p, i) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const fanIn = n / p.shape[p.shape.length - 1];
    vars.set(p.name, tf.variable(tf.tensor(lcg(n, c.seed * 31 + i, Math.sqrt(3 / fanIn)), p.shape), true, `probe${instances}_${p.name}`));
  });
  const list = params.map((p) => vars.get(p.name)!);
  return {
    params,
    setWeights(weights) {
      if (weights.length !== list.length) throw new Error(`probe task: got ${weights.length} weight arrays, expected ${list.length}`);
      list.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(weights[i], v.shape))));
    },
    async getWeights() {
      return Promise.all(list.map(async (v) => Float32Array.from((await v.data()) as Float32Array)));
    },
    async lossAndGrads([start, end]: ProbeShard): Promise<ShardResult> {
      if (!(start >= 0 && end <= c.batch && start < end)) throw new Error(`probe task: shard [${start}, ${end}) outside the batch of ${c.batch}`);
      const { x, y } = batchData(c, start, end);
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(probeForward(vars, x), y)) as tf.Scalar, list);
      const loss = (await value.data())[0];
      const out = await Promise.all(list.map(async (v) => Float32Array.from((await grads[v.name].data()) as Float32Array)));
      tf.dispose([x, y, value, ...Object.values(grads)]);
      return { loss, count: end - start, grads: out };
    },
    dispose() {
      tf.dispose(list);
    },
  };
}
