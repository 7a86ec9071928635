/**
 * Seeded allocation of a component's parameters from its specs, PyTorch-default-like:
 * - conv / linear weights: kaiming-uniform with a = √5, i.e. U(−1/√fan_in, 1/√fan_in)
 *   (torch `nn.Linear.reset_parameters`, `nn.Conv2d.reset_parameters`), fan_in = in · kh · kw;
 * - biases: zeros (torch draws them uniformly; zeros keep a fresh network's output centred);
 * - norm weights: ones, norm biases: zeros (torch `nn.GroupNorm`, `nn.LayerNorm`);
 * - embeddings: N(0, 0.02²) (transformers `CLIPPreTrainedModel._init_weights`, initializer_range);
 * - an attention pooling's `positional_embedding` [1, dim]: N(0, 1/dim) (diffusers `AttentionPooling`:
 *   `randn(1, dim) / dim ** 0.5`).
 *
 * Each parameter has its own generator, seeded by (seed, name): a parameter's values do not
 * depend on which other parameters exist or on their order, and never on the backend.
 */
import * as tf from "@tensorflow/tfjs-core";
import seedrandom from "seedrandom";
import { ParamSpec, Params } from "./params";

/** How a spec is initialised, from its layout, rank and name. */
export type InitKind = "kaiming-uniform" | "zeros" | "ones" | "normal-0.02" | "normal-1/sqrt(dim)";

export function initKind(spec: ParamSpec): InitKind {
  if (spec.layout === "conv2d" || spec.layout === "linear") return "kaiming-uniform";
  if (spec.name.endsWith(".bias")) return "zeros";
  if (spec.shape.length === 1) return "ones"; // a norm's scale
  if (spec.name.endsWith(".positional_embedding")) return "normal-1/sqrt(dim)";
  return "normal-0.02"; // an embedding table
}

/** fan_in in torch's sense: in_features, or in_channels · kh · kw. */
export function fanIn(spec: ParamSpec): number {
  if (spec.layout === "conv2d") return spec.shape[0] * spec.shape[1] * spec.shape[2];
  if (spec.layout === "linear") return spec.shape[0];
  throw new Error(`fanIn: parameter "${spec.name}" is neither conv2d nor linear`);
}

/** The initial values of one parameter, in tfjs layout, deterministic in (seed, name). */
export function initValues(spec: ParamSpec, seed: number): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const kind = initKind(spec);
  if (kind === "zeros") return out;
  if (kind === "ones") return out.fill(1);
  const rng = seedrandom.alea(`${seed}:${spec.name}`);
  if (kind === "kaiming-uniform") {
    const bound = 1 / Math.sqrt(fanIn(spec));
    for (let i = 0; i < n; i++) out[i] = (2 * rng() - 1) * bound;
    return out;
  }
  const std = kind === "normal-0.02" ? 0.02 : 1 / Math.sqrt(spec.shape[spec.shape.length - 1]);
  // Box–Muller, two normals per pair of uniforms.
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - rng(); // (0, 1]: log is finite
    const u2 = rng();
    const r = std * Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** Allocates trainable variables for `specs`, seeded. Dispose them with `disposeParams`. */
export function initParams(specs: ParamSpec[], seed: number): Params {
  if (!Number.isInteger(seed)) throw new Error(`initParams: seed must be an integer (got ${seed})`);
  const params: Params = new Map();
  for (const spec of specs) {
    if (params.has(spec.name)) throw new Error(`initParams: duplicate parameter name "${spec.name}"`);
    const t = tf.tensor(initValues(spec, seed), spec.shape, "float32");
    // No variable name: tfjs registers names globally, and two components share names like "conv_in.weight".
    params.set(spec.name, tf.variable(t, true));
    t.dispose();
  }
  return params;
}

/** Allocates zero-filled variables for `specs` (to be overwritten by loaded weights). */
export function zeroParams(specs: ParamSpec[]): Params {
  const params: Params = new Map();
  for (const spec of specs) {
    const t = tf.zeros(spec.shape, "float32");
    params.set(spec.name, tf.variable(t, true));
    t.dispose();
  }
  return params;
}

/** Builds Params from loaded values (e.g. `readWeights(folder, specs)`), checking names and sizes. */
export function paramsFromValues(specs: ParamSpec[], values: Map<string, Float32Array>): Params {
  const missing = specs.filter((s) => !values.has(s.name)).map((s) => s.name);
  if (missing.length) {
    throw new Error(`paramsFromValues: ${missing.length} parameter(s) missing from the loaded weights, e.g. "${missing.slice(0, 3).join('", "')}"`);
  }
  const params: Params = new Map();
  for (const spec of specs) {
    const v = values.get(spec.name)!;
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (v.length !== n) {
      disposeParams(params);
      throw new Error(`paramsFromValues: "${spec.name}" has ${v.length} values; its shape [${spec.shape}] needs ${n}`);
    }
    const t = tf.tensor(v, spec.shape, "float32");
    params.set(spec.name, tf.variable(t, true));
    t.dispose();
  }
  return params;
}

/** Disposes every variable of a component. */
export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}

/** Checks that `params` holds exactly `specs` with their shapes; the error lists what differs. */
export function checkParams(params: Params, specs: ParamSpec[], what = "params"): void {
  const problems: string[] = [];
  for (const s of specs) {
    const v = params.get(s.name);
    if (!v) problems.push(`missing "${s.name}"`);
    else if (v.shape.join(",") !== s.shape.join(",")) problems.push(`"${s.name}" has shape [${v.shape}], expected [${s.shape}]`);
  }
  const names = new Set(specs.map((s) => s.name));
  for (const k of params.keys()) if (!names.has(k)) problems.push(`unexpected "${k}"`);
  if (problems.length) {
    throw new Error(`${what}: ${problems.length} mismatch(es) with the config's parameter specs: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? "; …" : ""}`);
  }
}
