/**
 * The tiny U-Net (lib/models, "tiny" config) as a ParallelTask: ε-prediction MSE on fixed random
 * latents, timesteps and text states, for the bench's training-step measurements.
 */
import * as tf from "@tensorflow/tfjs-core";
import { initParams, shippedConfigs, unetForward, unetForwardFlops, unetParamSpecs, type Params } from "../lib/models";
import type { ParallelTask } from "../lib/parallel/task";
import { variableTask } from "../lib/parallel/variable-task";

export interface UNetTaskConfig {
  seed: number;
  batch: number;
  /** Text tokens of the conditioning (77 for CLIP). */
  seqLen: number;
}

export const DEFAULT_UNET_TASK: UNetTaskConfig = { seed: 0, batch: 4, seqLen: 77 };

function lcg(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** FLOPs of one training step on `batch` samples: forward + backward ≈ 3 × forward (backward = 2 products per forward product). */
export function unetTrainFlops(batch: number, seqLen = 77): number {
  const c = shippedConfigs("tiny").unet;
  return 3 * unetForwardFlops(c, { height: c.sample_size, width: c.sample_size, batch, seqLen });
}

export function setup(config: Partial<UNetTaskConfig> = {}): ParallelTask<[number, number]> & { dispose(): void } {
  const c: UNetTaskConfig = { ...DEFAULT_UNET_TASK, ...(config ?? {}) };
  const unet = shippedConfigs("tiny").unet;
  const specs = unetParamSpecs(unet);
  const params: Params = initParams(specs, c.seed);
  const list = specs.map((s) => params.get(s.name)!);
  const S = unet.sample_size;
  const per = S * S * unet.in_channels;
  const ctx = c.seqLen * unet.cross_attention_dim;
  const data = lcg(c.batch * (2 * per + ctx), c.seed + 7);
  const task = variableTask<[number, number]>(
    specs.map((s) => [s.name, params.get(s.name)!]),
    ([start, end]) =>
      tf.tidy(() => {
        const n = end - start;
        const x = tf.tensor4d(data.subarray(start * per, end * per), [n, S, S, unet.in_channels]);
        const eps = tf.tensor4d(data.subarray((c.batch + start) * per, (c.batch + end) * per), [
          n,
          S,
          S,
          unet.in_channels,
        ]);
        const o = 2 * c.batch * per;
        const ehs = tf.tensor3d(data.subarray(o + start * ctx, o + end * ctx), [n, c.seqLen, unet.cross_attention_dim]);
        const t = tf.tensor1d(
          Array.from({ length: n }, (_, i) => (97 * (start + i)) % 1000),
          "int32",
        );
        return tf.mean(tf.squaredDifference(unetForward(params, unet, x, t, ehs), eps)) as tf.Scalar;
      }),
    ([start, end]) => end - start,
  );
  // `call` reports this thread's tfjs memory and wasm heap (bench/memory.ts watches the workers' with it)
  const heapBytes = () => (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.length ?? 0;
  const call = () => ({ ...tf.memory(), heapBytes: heapBytes() });
  return { ...task, dispose: () => tf.dispose(list), call };
}
