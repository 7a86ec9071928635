/**
 * Plain arrays (what readWeights returns, tfjs layout) ↔ live tf.Variables (a model's Params).
 */
import * as tf from "@tensorflow/tfjs-core";
import { ParamSpec, Params } from "./params";
import { numel } from "./layout";

export interface ParamsFromArraysOptions {
  /** whether the variables take gradients; default true */
  trainable?: boolean;
  /** variable names become `${namePrefix}/${param name}` (tfjs names must be unique per process); default: tfjs's own unique names */
  namePrefix?: string;
}

/**
 * One tf.Variable per spec, in spec order, from tfjs-layout arrays (the values are copied, so the
 * arrays may be reused). A missing array or a wrong length is an error naming the parameter.
 * The caller owns the variables (dispose each, e.g. with lib/models' `disposeParams`).
 */
export function paramsFromArrays(
  arrays: Map<string, Float32Array>,
  specs: readonly ParamSpec[],
  opts: ParamsFromArraysOptions = {},
): Params {
  for (const s of specs) {
    const a = arrays.get(s.name);
    if (!a) throw new Error(`paramsFromArrays: no values for parameter "${s.name}" [${s.shape.join(", ")}]`);
    if (a.length !== numel(s.shape)) {
      throw new Error(`paramsFromArrays: "${s.name}" has ${a.length} values, shape [${s.shape.join(", ")}] needs ${numel(s.shape)}`);
    }
  }
  const params: Params = new Map();
  try {
    for (const s of specs) {
      const init = tf.tensor(arrays.get(s.name)!.slice(), s.shape, "float32");
      const name = opts.namePrefix === undefined ? undefined : `${opts.namePrefix}/${s.name}`;
      params.set(s.name, tf.variable(init, opts.trainable ?? true, name));
      init.dispose();
    }
  } catch (e) {
    for (const v of params.values()) v.dispose();
    throw e;
  }
  return params;
}

/** Copies of every variable's values (tfjs layout), by name. Synchronous: blocks on GPU backends. */
export function arraysFromParams(params: Params): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  // copy: the cpu backend's dataSync returns its own backing store
  for (const [name, v] of params) out.set(name, new Float32Array(v.dataSync() as Float32Array));
  return out;
}

/** `arraysFromParams` without blocking the event loop (reads each variable with `await data()`). */
export async function arraysFromParamsAsync(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of params) out.set(name, new Float32Array((await v.data()) as Float32Array));
  return out;
}
