/**
 * AdamW (Loshchilov & Hutter 2019, Algorithm 2, as torch.optim.AdamW implements it), gradient
 * clipping by global norm, and an exponential moving average of the weights. The optimizer state is
 * plain named tensors so a checkpoint can save and restore it exactly.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Params } from "../models/params";
import { adamwCoefficients, adamwElements, emaElements, NonFiniteError } from "../kernels/adamw";

export {
  adamwCoefficients,
  adamwElements,
  clipAdamwEmaElements,
  emaElements,
  NonFiniteError,
  type AdamWCoefficients,
} from "../kernels/adamw";

export interface AdamWConfig {
  lr: number;
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  weightDecay?: number; // 1e-2, torch's default
  /** one fused JavaScript loop per parameter instead of tfjs ops; default: on the host backends (wasm, cpu) */
  fused?: boolean;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly fused: boolean | undefined;
  /** number of steps taken */
  step = 0;
  /** first and second moments, by parameter name */
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(cfg: Omit<AdamWConfig, "lr">) {
    this.beta1 = cfg.beta1 ?? 0.9;
    this.beta2 = cfg.beta2 ?? 0.999;
    this.eps = cfg.eps ?? 1e-8;
    this.weightDecay = cfg.weightDecay ?? 1e-2;
    this.fused = cfg.fused;
  }

  /**
   * One update with learning rate `lr`:
   *   1. θ ← θ − lr·λ·θ                       (decoupled weight decay)
   *   2. m ← β₁m + (1 − β₁)g ;  v ← β₂v + (1 − β₂)g²
   *   3. θ ← θ − lr · m̂ / (sqrt(v̂) + ε),  m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)
   * Parameters without a gradient are left alone.
   */
  apply(params: Params, grads: Map<string, tf.Tensor>, lr: number): void {
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    const host = this.fused ?? onHostBackend();
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      if (g.shape.join() !== p.shape.join())
        throw new Error(`gradient for ${name} has shape [${g.shape}], parameter has [${p.shape}]`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
        v = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const [mm, vv] = [m, v];
      if (host) {
        // One fused pass in JavaScript over host copies: on wasm/cpu the ten tfjs ops below cost a
        // kernel call and a full-size buffer each, which made the optimizer a third of a
        // data-parallel step. Same formulas, evaluated in float64 and rounded once to float32.
        const pd = p.dataSync() as Float32Array;
        const md = hostCopy(mm);
        const vd = hostCopy(vv);
        const out = new Float32Array(pd.length);
        adamwElements(
          pd,
          out,
          md,
          vd,
          g.dataSync() as Float32Array,
          0,
          pd.length,
          adamwCoefficients(this, lr, this.step),
        );
        assignHost(mm, md);
        assignHost(vv, vd);
        assignHost(p, out);
        continue;
      }
      tf.tidy(() => {
        const m2 = tf.add(tf.mul(mm, this.beta1), tf.mul(g, 1 - this.beta1));
        const v2 = tf.add(tf.mul(vv, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        mm.assign(m2);
        vv.assign(v2);
        const decayed = this.weightDecay ? tf.mul(p, 1 - lr * this.weightDecay) : p;
        const update = tf.div(tf.div(m2, bc1), tf.add(tf.sqrt(tf.div(v2, bc2)), this.eps));
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    }
  }

  /** The state as named arrays (for checkpoints): "m/<name>", "v/<name>". */
  async state(): Promise<{ step: number; tensors: Map<string, { shape: number[]; data: Float32Array }> }> {
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of this.m) tensors.set(`m/${k}`, { shape: t.shape, data: (await t.data()) as Float32Array });
    for (const [k, t] of this.v) tensors.set(`v/${k}`, { shape: t.shape, data: (await t.data()) as Float32Array });
    return { step: this.step, tensors };
  }

  /** Restores a state written by `state()`. */
  load(step: number, tensors: Map<string, { shape: number[]; data: Float32Array }>): void {
    this.dispose();
    this.step = step;
    for (const [key, t] of tensors) {
      const slash = key.indexOf("/");
      const which = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const target = which === "m" ? this.m : which === "v" ? this.v : undefined;
      if (!target) throw new Error(`optimizer state has an unknown entry "${key}" (expected m/<name> or v/<name>)`);
      const init = tf.tensor(t.data, t.shape);
      target.set(name, tf.variable(init, false));
      init.dispose();
    }
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** True on the backends whose tensors live in host memory, where fused JavaScript loops beat chains of tfjs ops. */
export function onHostBackend(): boolean {
  const b = tf.getBackend();
  return b === "wasm" || b === "cpu";
}

/** A private copy of a tensor's values (wasm's dataSync copies already; cpu's returns its own storage). */
function hostCopy(t: tf.Tensor): Float32Array {
  const d = t.dataSync() as Float32Array;
  return tf.getBackend() === "cpu" ? d.slice() : d;
}

/** v ← data (same shape), through one new tensor. */
function assignHost(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, "float32");
  v.assign(t);
  t.dispose();
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_).
 * Returns the norm before clipping; a non-finite norm is an error naming the first bad parameter,
 * so a NaN never reaches the weights.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  let norm: number;
  if (onHostBackend()) {
    // one pass per gradient in float64, instead of two tfjs ops and a buffer per gradient
    let sum = 0;
    for (const g of grads.values()) {
      const d = g.dataSync();
      for (let i = 0; i < d.length; i++) sum += d[i] * d[i];
    }
    norm = Math.sqrt(sum);
  } else {
    const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
    norm = Math.sqrt(sq.dataSync()[0]);
    sq.dispose();
  }
  if (!Number.isFinite(norm)) {
    for (const [name, g] of grads) {
      const bad = tf.tidy(() => tf.any(tf.logicalNot(tf.isFinite(g))).dataSync()[0]);
      if (bad)
        throw new NonFiniteError(
          `gradient of ${name} is not finite (NaN or Inf): lower the learning rate, or check the inputs`,
        );
    }
    throw new NonFiniteError(`the gradient norm overflowed (${norm}): lower the learning rate`);
  }
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, scale));
      g.dispose();
    }
  }
  return norm;
}

/** Exponential moving average of weights (Polyak averaging): ema ← d·ema + (1 − d)·θ. */
export class Ema {
  readonly shadow = new Map<string, tf.Variable>();
  constructor(
    readonly decay: number,
    params: Params,
    readonly fused?: boolean,
  ) {
    for (const [k, p] of params)
      this.shadow.set(
        k,
        tf.tidy(() => tf.variable(p.clone(), false)),
      );
  }
  update(params: Params): void {
    if (this.fused ?? onHostBackend()) {
      const d = this.decay;
      for (const [k, p] of params) {
        const s = this.shadow.get(k)!;
        const sd = hostCopy(s);
        emaElements(sd, p.dataSync() as Float32Array, 0, sd.length, d);
        assignHost(s, sd);
      }
      return;
    }
    tf.tidy(() => {
      for (const [k, p] of params) {
        const s = this.shadow.get(k)!;
        s.assign(tf.add(tf.mul(s, this.decay), tf.mul(p, 1 - this.decay)));
      }
    });
  }
  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
    this.shadow.clear();
  }
}
