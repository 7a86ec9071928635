/** Timing helpers: warm up, then the median (and spread) of several runs. */
import * as tf from "@tensorflow/tfjs-core";

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
}

/** Time an async step `reps` times after `warmup` runs. */
export async function timeAsync(step: () => Promise<void>, reps = 5, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await step();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await step();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return { medianMs: ts[ts.length >> 1], minMs: ts[0], maxMs: ts[ts.length - 1] };
}

/** Time a tensor-producing op: waits for its data, disposes it. */
export function timeOp(f: () => tf.Tensor, reps = 7, warmup = 2): Promise<Timing> {
  return timeAsync(
    async () => {
      const r = f();
      await r.data();
      r.dispose();
    },
    reps,
    warmup,
  );
}

/** The middle value (the upper one of an even count), as timeAsync reports. */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export const gflops = (flops: number, t: Timing) => flops / (t.medianMs * 1e-3) / 1e9;
/** Spread of a timing as ± percent of the median (half the max-min range). */
export const spread = (t: Timing) => (50 * (t.maxMs - t.minMs)) / t.medianMs;
