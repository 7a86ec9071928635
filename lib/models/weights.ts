/**
 * Model weights ↔ safetensors files, checked against a model's parameter specs.
 *
 * Files hold diffusers/transformers names in torch layout; the returned arrays are in tfjs layout
 * (lib/io/layout.ts). A component folder is one of diffusers' `unet/`, `vae/`, `text_encoder/`:
 *   diffusion_pytorch_model.safetensors   (unet, vae; diffusers `SAFETENSORS_WEIGHTS_NAME`)
 *   model.safetensors                     (text_encoder; transformers `SAFE_WEIGHTS_NAME`)
 *   <either>.fp16.safetensors             (the "fp16" variant)
 *   <either>.safetensors.index.json       (sharded: {"weight_map": {name: shard file}})
 */
import * as fs from "fs";
import * as path from "path";
import { ParamSpec, torchShape } from "./params";
import { checkSpec, numel, tfjsToTorch, torchToTfjs } from "./layout";
import { FLOAT_DTYPES, SafetensorsFile, TensorInfo, TensorToWrite, WriteDtype, writeSafetensors } from "../io/safetensors";
import { OverflowMode } from "../io/float16";

/** Buffers that transformers' CLIPTextModel saves but that are not parameters. */
export const TEXT_ENCODER_IGNORE: readonly string[] = ["text_model.embeddings.position_ids"];

export interface ReadWeightsOptions {
  /** file keys that are not parameters (exact names or patterns), e.g. TEXT_ENCODER_IGNORE */
  ignore?: readonly (string | RegExp)[];
  /** in a component folder, prefer the "fp16" variant files; default: the full-precision files, fp16 if only those exist */
  variant?: "fp16";
  /** maps a file's tensor name to the spec's (e.g. SD 1.x VAEs' old attention names; see lib/models `vaeCurrentName`) */
  rename?: (fileName: string) => string;
}

const BASES = ["diffusion_pytorch_model", "model"];

/**
 * The safetensors files behind `source`: a `.safetensors` file, a `.safetensors.index.json`, a list
 * of files, or a component folder (see the module comment for the names tried, in order).
 */
export function resolveWeightFiles(source: string | readonly string[], variant?: "fp16"): string[] {
  if (Array.isArray(source)) return source.flatMap((s) => resolveWeightFiles(s, variant));
  const src = source as string;
  if (!fs.existsSync(src)) throw new Error(`weights not found: ${src}`);
  if (fs.statSync(src).isDirectory()) {
    const suffixes = variant === "fp16" ? [".fp16", ""] : ["", ".fp16"];
    const tried: string[] = [];
    for (const v of suffixes) {
      for (const kind of [".safetensors", ".safetensors.index.json"]) {
        for (const base of BASES) {
          const f = path.join(src, base + v + kind);
          tried.push(path.basename(f));
          if (fs.existsSync(f)) return resolveWeightFiles(f, variant);
        }
      }
    }
    const present = fs.readdirSync(src).filter((f) => f.includes("safetensors") || f.endsWith(".bin") || f.endsWith(".ckpt"));
    throw new Error(
      `no safetensors weights in ${src}: looked for ${tried.join(", ")}; found ${present.length ? present.join(", ") : "none"}` +
        (present.some((f) => f.endsWith(".bin") || f.endsWith(".ckpt")) ? " (convert .bin/.ckpt to safetensors first)" : ""),
    );
  }
  if (src.endsWith(".json")) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(fs.readFileSync(src, "utf8"));
    } catch (e) {
      throw new Error(`${src}: not a valid safetensors index (${(e as Error).message})`, { cause: e });
    }
    if (!index.weight_map || typeof index.weight_map !== "object") throw new Error(`${src}: a safetensors index needs a "weight_map" object`);
    const shards = [...new Set(Object.values(index.weight_map))].sort();
    return shards.map((s) => {
      const f = path.join(path.dirname(src), s);
      if (!fs.existsSync(f)) throw new Error(`${src}: shard ${s} named in weight_map is missing (${f})`);
      return f;
    });
  }
  return [src];
}

interface Found {
  info: TensorInfo;
  file: SafetensorsFile;
}

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Lists up to `k` items, then how many more. */
function firstFew(items: string[], k = 5): string {
  return items.slice(0, k).join("; ") + (items.length > k ? `; … (+${items.length - k} more)` : "");
}

function ignored(name: string, ignore: readonly (string | RegExp)[]): boolean {
  return ignore.some((p) => (typeof p === "string" ? p === name : p.test(name)));
}

/**
 * Checks the tensors found in files (name → torch shape) against the specs. Missing, unexpected and
 * mis-shaped tensors are reported together in one error, the first few of each by name with both shapes.
 */
export function checkTensorsAgainstSpecs(
  found: Map<string, { shape: number[]; dtype?: string }>,
  specs: readonly ParamSpec[],
  where: string,
  ignore: readonly (string | RegExp)[] = [],
): void {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const missing: string[] = [];
  const wrong: string[] = [];
  const dtype: string[] = [];
  for (const s of specs) {
    const f = found.get(s.name);
    if (!f) missing.push(`${s.name} ${fmt(torchShape(s))}`);
    else if (!same(f.shape, torchShape(s))) {
      wrong.push(`${s.name}: file ${fmt(f.shape)} vs expected ${fmt(torchShape(s))} (torch; tfjs ${fmt(s.shape)}, layout ${s.layout})`);
    } else if (f.dtype !== undefined && !FLOAT_DTYPES.includes(f.dtype as never)) {
      dtype.push(`${s.name}: ${f.dtype}`);
    }
  }
  const extra = [...found.keys()].filter((n) => !byName.has(n) && !ignored(n, ignore)).map((n) => `${n} ${fmt(found.get(n)!.shape)}`);
  if (missing.length + wrong.length + extra.length + dtype.length === 0) return;
  const lines = [`weights in ${where} do not match the model (${specs.length} parameters expected, ${found.size} tensors in the file):`];
  if (missing.length) lines.push(`  missing ${missing.length}: ${firstFew(missing)}`);
  if (extra.length) lines.push(`  unexpected ${extra.length}: ${firstFew(extra)}`);
  if (wrong.length) lines.push(`  wrong shape ${wrong.length}: ${firstFew(wrong)}`);
  if (dtype.length) lines.push(`  not a float dtype ${dtype.length}: ${firstFew(dtype)}`);
  lines.push(
    "  (is this the right component folder and model configuration? buffers that are not parameters can be skipped with `ignore`)",
  );
  throw new Error(lines.join("\n"));
}

/**
 * Reads a model component's weights, checked against `specs`, converted to tfjs layout.
 * @returns name → values in tfjs layout (float32), in spec order
 */
export function readWeights(
  source: string | readonly string[],
  specs: readonly ParamSpec[],
  opts: ReadWeightsOptions = {},
): Map<string, Float32Array> {
  specs.forEach(checkSpec);
  const files = resolveWeightFiles(source, opts.variant);
  const where = files.length === 1 ? files[0] : `${files.length} files (${files.map((f) => path.basename(f)).join(", ")})`;
  const open: SafetensorsFile[] = [];
  try {
    const found = new Map<string, Found>();
    for (const f of files) {
      const sf = SafetensorsFile.open(f);
      open.push(sf);
      for (const info of sf.header.tensors.values()) {
        const name = opts.rename ? opts.rename(info.name) : info.name;
        const prev = found.get(name);
        if (prev) throw new Error(`tensor "${name}" is in both ${prev.file.file} and ${f}`);
        found.set(name, { info, file: sf });
      }
    }
    const shapes = new Map([...found].map(([n, f]) => [n, { shape: f.info.shape, dtype: f.info.dtype }]));
    checkTensorsAgainstSpecs(shapes, specs, where, opts.ignore ?? []);
    const out = new Map<string, Float32Array>();
    for (const s of specs) {
      const f = found.get(s.name)!;
      out.set(s.name, torchToTfjs(f.file.readFloat32(f.info.name), s));
    }
    return out;
  } finally {
    for (const f of open) f.close();
  }
}

/** Values of one parameter in tfjs layout: bare (shape from the spec) or with their shape (checked). */
export type ParamValues = Float32Array | { shape: number[]; data: Float32Array };

export interface WriteWeightsOptions {
  /** "F32" (default, bit-exact) or "F16" */
  dtype?: WriteDtype;
  /** stored in the header's __metadata__ (strings only); `format: "pt"` is added */
  metadata?: Record<string, string>;
  /** F16: a finite value beyond ±65504 becomes ±Inf ("inf", default) or is an error naming the tensor */
  overflow?: OverflowMode;
}

/**
 * Writes parameters (tfjs layout) as a safetensors file in torch layout, atomically, after checking
 * them against `specs` (missing, unexpected and mis-shaped are one error).
 */
export function writeWeights(
  file: string,
  params: Map<string, ParamValues>,
  specs: readonly ParamSpec[],
  opts: WriteWeightsOptions = {},
): void {
  specs.forEach(checkSpec);
  const byName = new Map(specs.map((s) => [s.name, s]));
  const missing = specs.filter((s) => !params.has(s.name)).map((s) => `${s.name} ${fmt(s.shape)}`);
  const extra = [...params.keys()].filter((n) => !byName.has(n));
  const wrong: string[] = [];
  for (const s of specs) {
    const v = params.get(s.name);
    if (!v) continue;
    const data = v instanceof Float32Array ? v : v.data;
    if (!(v instanceof Float32Array) && !same(v.shape, s.shape)) wrong.push(`${s.name}: given ${fmt(v.shape)} vs expected ${fmt(s.shape)} (tfjs)`);
    else if (!(data instanceof Float32Array) || data.length !== numel(s.shape)) {
      wrong.push(`${s.name}: ${data?.length} values vs expected ${numel(s.shape)} for ${fmt(s.shape)} (tfjs)`);
    }
  }
  if (missing.length + extra.length + wrong.length) {
    const lines = [`cannot write ${file}: the parameters do not match the model's specs:`];
    if (missing.length) lines.push(`  missing ${missing.length}: ${firstFew(missing)}`);
    if (extra.length) lines.push(`  unexpected ${extra.length}: ${firstFew(extra)}`);
    if (wrong.length) lines.push(`  wrong shape ${wrong.length}: ${firstFew(wrong)}`);
    throw new Error(lines.join("\n"));
  }
  // torch-layout copies are made lazily, one tensor at a time, as the writer consumes them
  const tensors = new Map<string, TensorToWrite>();
  for (const s of specs) {
    const v = params.get(s.name)!;
    const data = v instanceof Float32Array ? v : v.data;
    tensors.set(s.name, { shape: torchShape(s), data: () => tfjsToTorch(data, s) });
  }
  writeSafetensors(file, tensors, opts);
}
