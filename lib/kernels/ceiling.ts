/**
 * The matMul ceiling of the current backend: the fastest of `reps` (default 30) warm size×size products, in
 * GFLOP/s (and the median's rate, for reference). The fastest, not the median: a ceiling is what the kernel can do, and on a shared
 * machine the median of a few runs was seen to halve from one run to the next. `npm run bench`
 * prints the same measurement as its line (a); training reports divide their FLOP/s by it.
 */
import * as tf from "@tensorflow/tfjs-core";

export async function matmulCeiling(
  opts: { reps?: number; size?: number } = {},
): Promise<{ gflops: number; medianGflops: number }> {
  const n = opts.size ?? 512;
  const reps = opts.reps ?? 30;
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  try {
    const times: number[] = [];
    for (let r = -2; r < reps; r++) {
      const t0 = performance.now();
      const y = tf.matMul(a, b);
      await y.data();
      y.dispose();
      if (r >= 0) times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const rate = (ms: number) => (2 * n ** 3) / (ms * 1e-3) / 1e9;
    return { gflops: rate(times[0]), medianGflops: rate(times[times.length >> 1]) };
  } finally {
    tf.dispose([a, b]);
  }
}
