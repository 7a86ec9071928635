/** Helpers for the models' tests: plain-loop references, hashing and training-step checks. */
import * as tf from "@tensorflow/tfjs-core";
import { createHash } from "crypto";
import { Params } from "./params";

/** SHA-256 of every parameter's bytes, in name order. */
export function hashParams(params: Params): string {
  const h = createHash("sha256");
  for (const name of [...params.keys()].sort()) {
    h.update(name);
    const d = params.get(name)!.dataSync() as Float32Array;
    h.update(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

/** SHA-256 of a tensor's bytes. */
export function hashTensor(t: tf.Tensor): string {
  const d = t.dataSync() as Float32Array;
  return createHash("sha256").update(Buffer.from(d.buffer, d.byteOffset, d.byteLength)).digest("hex");
}

/** Deterministic pseudo-random numbers in [−1, 1) for test inputs (no tfjs RNG involved). */
export function testValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * One training step on `params`: the MSE of `forward()` against `target`, its gradients for every
 * parameter, one optimizer step. Returns the loss and the names of parameters that got no gradient.
 */
export function trainStep(
  params: Params,
  forward: () => tf.Tensor,
  target: tf.Tensor,
  optimizer: tf.Optimizer,
): { loss: number; missing: string[]; gradNorms: Map<string, number> } {
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n)!);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(forward(), target)) as tf.Scalar, vars);
  const missing: string[] = [];
  const gradNorms = new Map<string, number>();
  const byName: tf.NamedTensorMap = {};
  for (const v of vars) {
    const g = grads[v.name];
    const n = names[vars.indexOf(v)];
    if (!g) missing.push(n);
    else {
      byName[v.name] = g;
      gradNorms.set(n, tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]));
    }
  }
  optimizer.applyGradients(byName);
  const loss = value.dataSync()[0];
  value.dispose();
  tf.dispose(Object.values(grads));
  return { loss, missing, gradNorms };
}
