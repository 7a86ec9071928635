/**
 * Where a training step's gradients come from, and the worker pool's implementation of it: the
 * trainer (lib/train/trainer) asks a `GradientSource` for the loss and gradients of a step and, with a
 * shared-update source, lets the workers apply the optimizer in their shared buffers too.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Params } from "../models/params";
import { NonFiniteError } from "../kernels/adamw";
import type { WorkerPool } from "./pool";
import { splitRange } from "./task";

/** What a shared update needs of the optimizer: AdamW's settings, its step count and moments. */
export interface OptimizerState {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** steps taken */
  readonly step: number;
  readonly m: Map<string, tf.Variable>;
  readonly v: Map<string, tf.Variable>;
}

/** What a shared update needs of the weights' exponential moving average. */
export interface EmaState {
  readonly decay: number;
  readonly shadow: Map<string, tf.Variable>;
}

/** Where gradients come from. */
export interface GradientSource {
  /** Loss and full-batch gradients (by parameter key) for one step over the given sample indices. */
  step(step: number, samples: number[]): Promise<{ loss: number; grads: Map<string, tf.Tensor> }>;
  /** Called after every optimizer update (and once at the start) so the source sees the new weights. */
  sync(params: Params): Promise<void>;
  /** When present, trainLoop hands the whole update to it (the workers' shared buffers) instead of `step` + `sync`. */
  shared?: SharedUpdateSource;
}

/**
 * A source that also applies the update (clip, AdamW, EMA) where the gradients are, so the main
 * thread's tensors are only brought up to date when a checkpoint is written and at the end.
 */
export interface SharedUpdateSource {
  /** Take over the weights, the AdamW moments and the EMA shadow. */
  attach(params: Params, opt: OptimizerState, ema: EmaState | undefined): Promise<void>;
  /** Loss of one step over the given samples; its averaged gradient stays with the source. */
  gradients(step: number, samples: number[]): Promise<number>;
  /**
   * Clip to `clipNorm` (0 = off), then AdamW step `t` with learning rate `lr`, then EMA. Returns
   * the norm before clipping; a non-finite norm throws NonFiniteError before any weight changes.
   */
  apply(lr: number, clipNorm: number, t: number): Promise<number>;
  /** Copy weights, moments and shadow back into the main thread's tensors. */
  pull(params: Params, opt: OptimizerState, ema: EmaState | undefined): Promise<void>;
}

/** One shard of a step, as a data-parallel task receives it. */
export interface StepShard {
  step: number;
  /** indices into the dataset */
  samples: number[];
  /** samples in the whole batch (for weighting) */
  batch: number;
}

/**
 * Gradients from a WorkerPool: contiguous shards, averaged in worker order (deterministic for a
 * fixed size). By default the update runs in the workers too (`WorkerPool.share`): the same
 * arithmetic as the main-thread optimizer, so the same bytes, without the weight exchange.
 */
export function poolSource(pool: WorkerPool, opts: { sharedUpdate?: boolean } = {}): GradientSource {
  const shards = (step: number, samples: number[]): StepShard[] =>
    splitRange(samples.length, pool.size).map(([a, b]) => ({
      step,
      samples: samples.slice(a, b),
      batch: samples.length,
    }));
  const shared: SharedUpdateSource = {
    async attach(params, opt, ema) {
      const st = await pool.share(
        { beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, emaDecay: ema?.decay },
        { ema: !!ema },
      );
      for (const [j, p] of pool.params.entries()) {
        const v = params.get(p.name);
        if (!v) throw new Error(`the workers train "${p.name}", which the main thread does not hold`);
        const at = st.offsets[j];
        st.params.set((await v.data()) as Float32Array, at);
        const m = opt.m.get(p.name);
        const s = opt.v.get(p.name);
        if (m && s) {
          st.m.set((await m.data()) as Float32Array, at);
          st.v.set((await s.data()) as Float32Array, at);
        }
        const e = ema?.shadow.get(p.name);
        if (e && st.ema) st.ema.set((await e.data()) as Float32Array, at);
      }
      pool.markStale();
    },
    async gradients(step, samples) {
      if (samples.length < pool.size)
        throw new Error(
          `a batch of ${samples.length} samples cannot feed ${pool.size} workers: use a batch of at least ${pool.size} or fewer workers`,
        );
      return (await pool.sharedGradients(shards(step, samples))).loss;
    },
    async apply(lr, clipNorm, t) {
      const st = pool.shared!;
      // the global norm on the main thread, in parameter order (as clipByGlobalNorm sums it)
      const g = st.grads;
      let sum = 0;
      for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
      const norm = Math.sqrt(sum);
      if (!Number.isFinite(norm)) {
        for (const [j, p] of pool.params.entries()) {
          const sub = g.subarray(st.offsets[j], st.offsets[j] + st.sizes[j]);
          if (sub.some((x) => !Number.isFinite(x)))
            throw new NonFiniteError(
              `gradient of ${p.name} is not finite (NaN or Inf): lower the learning rate, or check the inputs`,
            );
        }
        throw new NonFiniteError(`the gradient norm overflowed (${norm}): lower the learning rate`);
      }
      const scale = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : null;
      await pool.sharedApply({ lr, t, scale });
      return norm;
    },
    async pull(params, opt, ema) {
      const st = pool.shared;
      if (!st) return;
      // into an existing variable, or a new non-trainable one (moments that did not exist yet)
      const put = (map: Map<string, tf.Variable>, name: string, data: Float32Array, shape: number[]) => {
        const t = tf.tensor(data.slice(), shape, "float32");
        const cur = map.get(name);
        if (cur) cur.assign(t);
        else map.set(name, tf.variable(t, false));
        t.dispose();
      };
      for (const [j, p] of pool.params.entries()) {
        const view = (a: Float32Array) => a.subarray(st.offsets[j], st.offsets[j] + st.sizes[j]);
        put(params as Map<string, tf.Variable>, p.name, view(st.params), p.shape);
        if (opt.step > 0) {
          put(opt.m, p.name, view(st.m), p.shape);
          put(opt.v, p.name, view(st.v), p.shape);
        }
        if (ema && st.ema) put(ema.shadow, p.name, view(st.ema), p.shape);
      }
    },
  };
  return {
    shared: opts.sharedUpdate === false ? undefined : shared,
    async step(step, samples) {
      const avg = await pool.lossAndGrads(shards(step, samples));
      const grads = new Map<string, tf.Tensor>();
      pool.params.forEach((p, i) => grads.set(p.name, tf.tensor(avg.grads[i], p.shape)));
      return { loss: avg.loss, grads };
    },
    async sync(params) {
      const weights: Float32Array[] = [];
      for (const p of pool.params) {
        const v = params.get(p.name);
        if (!v) throw new Error(`the workers train "${p.name}", which the main thread does not hold`);
        // setWeights clones what it posts, so the backend's own copy (or storage, on cpu) can go as is
        weights.push((await v.data()) as Float32Array);
      }
      await pool.setWeights(weights);
    },
  };
}
