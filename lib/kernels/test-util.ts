/** Helpers shared by the kernel tests: run the same computation on two backends and compare. */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { registerTrainingKernels } from "./index";

/** Deterministic pseudo-random floats in [-1, 1) (an LCG; the values only need to be fixed). */
export function fixedRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** max |a - b| / max |b|: the relative error of a against the reference b. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return den === 0 ? num : num / den;
}

export interface Input {
  shape: number[];
  seed: number;
  dtype?: "float32" | "int32";
  values?: number[];
}

function materialize(inputs: Input[]): tf.Tensor[] {
  return inputs.map((i) =>
    i.values
      ? tf.tensor(i.values, i.shape, i.dtype ?? "float32")
      : tf.tensor(
          fixedRandom(
            i.shape.reduce((a, b) => a * b, 1),
            i.seed,
          ),
          i.shape,
        ),
  );
}

/** Run f on `backend` with fresh tensors built from `inputs`; return every output's values. */
export async function runOn(
  backend: string,
  inputs: Input[],
  f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  registerTrainingKernels();
  await tf.setBackend(backend);
  const xs = materialize(inputs);
  const out = f(...xs);
  const outs = Array.isArray(out) ? out : [out];
  const data = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([...xs, ...outs]);
  return data;
}

/** Largest relative error, over the outputs, of f on wasm against f on cpu. */
export async function wasmVsCpu(inputs: Input[], f: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<number> {
  const w = await runOn("wasm", inputs, f);
  const c = await runOn("cpu", inputs, f);
  return Math.max(...w.map((x, i) => relErr(x, c[i])));
}

/** Gradients of sum(f(xs) * r) for a fixed random r, with respect to the float inputs. */
export function gradsOfWeighted(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  floatArgs: number[],
): (...xs: tf.Tensor[]) => tf.Tensor[] {
  return (...xs) => {
    const g = tf.grads((...ys: tf.Tensor[]) => {
      const all = xs.slice();
      floatArgs.forEach((a, i) => (all[a] = ys[i]));
      const y = f(...all);
      const r = tf.tensor(fixedRandom(y.size, 99), y.shape);
      return tf.sum(tf.mul(y, r));
    });
    return g(floatArgs.map((a) => xs[a]));
  };
}
