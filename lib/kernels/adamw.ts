/**
 * AdamW and EMA as element loops over flat float32 arrays: the one arithmetic of the optimizer's fused
 * host path (lib/train/optim) and of the worker threads' shared update (lib/parallel/worker), so both
 * give the same bytes. Plain JavaScript, no tensors: the layer both sit on.
 */

/** The scalars of AdamW step `t` at learning rate `lr` (see `AdamW.apply`). */
export interface AdamWCoefficients {
  beta1: number;
  beta2: number;
  eps: number;
  lr: number;
  /** 1 − lr·λ, the decoupled weight decay */
  decay: number;
  /** bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ */
  bc1: number;
  bc2: number;
}

export function adamwCoefficients(
  c: { beta1: number; beta2: number; eps: number; weightDecay: number },
  lr: number,
  t: number,
): AdamWCoefficients {
  return {
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    lr,
    decay: 1 - lr * c.weightDecay,
    bc1: 1 - c.beta1 ** t,
    bc2: 1 - c.beta2 ** t,
  };
}

/**
 * AdamW on elements [lo, hi) of flat arrays: m, v updated in place, pOut ← the new weights (pIn and
 * pOut may be the same array). Evaluated in float64 and rounded once to float32. The one loop of
 * the fused host path and of the workers' shared update (lib/parallel/worker), so both give the
 * same bytes.
 */
export function adamwElements(
  pIn: Float32Array,
  pOut: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  lo: number,
  hi: number,
  c: AdamWCoefficients,
): void {
  const { beta1: b1, beta2: b2, eps, lr, decay, bc1, bc2 } = c;
  for (let i = lo; i < hi; i++) {
    const gi = g[i];
    const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
    const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
    pOut[i] = pIn[i] * decay - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps));
  }
}

/**
 * Clip, AdamW and EMA on elements [lo, hi) in one pass: g ← g·scale as a float32 product (like
 * tf.mul; a scale of 1 changes nothing), then `adamwElements` in place on p, then `emaElements` on the
 * new weights when a shadow is given. The same arithmetic as those three loops run one after
 * another, so the same bytes, reading and writing each array once instead of up to three times.
 */
export function clipAdamwEmaElements(
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  lo: number,
  hi: number,
  c: AdamWCoefficients,
  scale: number,
  ema: { shadow: Float32Array; decay: number } | null,
): void {
  const { beta1: b1, beta2: b2, eps, lr, decay, bc1, bc2 } = c;
  const s = Math.fround(scale);
  const fr = Math.fround;
  if (!ema) {
    for (let i = lo; i < hi; i++) {
      const gi = (g[i] = fr(g[i] * s));
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      p[i] = p[i] * decay - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps));
    }
    return;
  }
  const { shadow, decay: d } = ema;
  for (let i = lo; i < hi; i++) {
    const gi = (g[i] = fr(g[i] * s));
    const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
    const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
    const pi = (p[i] = fr(p[i] * decay - lr * (mi / bc1 / (Math.sqrt(vi / bc2) + eps))));
    shadow[i] = d * shadow[i] + (1 - d) * pi;
  }
}

/** EMA on elements [lo, hi): shadow ← d·shadow + (1 − d)·p. */
export function emaElements(shadow: Float32Array, p: Float32Array, lo: number, hi: number, d: number): void {
  for (let i = lo; i < hi; i++) shadow[i] = d * shadow[i] + (1 - d) * p[i];
}

/** A loss or gradient that is NaN or infinite: training stops before any weight changes. */
export class NonFiniteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NonFiniteError";
  }
}
