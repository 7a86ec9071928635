// lib/models/params.ts
import * as tf from "@tensorflow/tfjs-core";
/** How a parameter is laid out in PyTorch/diffusers files versus in tfjs. */
export type TorchLayout =
  | "conv2d"   // torch [out, in, kh, kw]  <->  tfjs [kh, kw, in, out]
  | "linear"   // torch [out, in]          <->  tfjs [in, out]
  | "same";    // identical (biases, norms, embeddings [vocab, dim], position embeddings)
/** One parameter: its diffusers name (e.g. "down_blocks.0.resnets.0.conv1.weight"), its shape in tfjs layout, its layout. */
export interface ParamSpec { name: string; shape: number[]; layout: TorchLayout }
/** The torch shape of a spec. */
export function torchShape(spec: ParamSpec): number[] {
  const s = spec.shape;
  if (spec.layout === "conv2d") return [s[3], s[2], s[0], s[1]];
  if (spec.layout === "linear") return [s[1], s[0]];
  return [...s];
}
/** Number of scalars in a list of specs (no allocation). */
export function countParams(specs: ParamSpec[]): number {
  let n = 0;
  for (const p of specs) n += p.shape.reduce((a, b) => a * b, 1);
  return n;
}
/** Live parameters of a model component, by diffusers name. */
export type Params = Map<string, tf.Variable>;
