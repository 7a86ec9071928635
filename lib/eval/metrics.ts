/**
 * Numbers for what the paper only shows, per set of generated images:
 * - identity fidelity: (a) share of IDENTITY_ATTRIBUTES predicted equal to the subject's; (b) mean
 *   cosine similarity of each image's embedding to the instance images' embeddings (the analogue of
 *   DreamBooth's DINO score, Ruiz et al. 2023, sec. 4.1);
 * - prompt fidelity: share of the attributes a prompt asks for (`parsePromptAttributes`) predicted;
 * - diversity: mean pairwise embedding distance 1 − cos over distinct images (DreamBooth's DIV
 *   metric uses LPIPS distance the same way; here the evaluator's embedding);
 * - luminance (Rec. 601 luma, ITU-R BT.601: Y' = 0.299 R' + 0.587 G' + 0.114 B'): the mean of the
 *   per-image mean luma, the 5th–95th percentile range of per-image mean luma (zero terminal SNR
 *   should widen it: Lin et al. 2023, sec. 3, "sample plain images with extreme brightness"), and the
 *   per-image 5th–95th percentile range of pixel luma (contrast within an image).
 * Every metric has a mean, a 95 % interval (Student t for means of per-image values, the seeded
 * percentile bootstrap for shares, which keeps them inside [0, 1], and for set statistics) and its N.
 */
import fs from "fs";
import path from "path";
import sharp from "sharp";
import { IDENTITY_ATTRIBUTES, luma } from "../data/attributes";
import { ImageError, loadImageFolder } from "../data/images";
import { Params } from "../models/params";
import { EvaluatorConfig, predict, Prediction } from "./model";
import { parsePromptAttributes, PromptAttributes } from "./prompt";
import { bootstrapCI, Estimate, meanCI, percentileSorted, shareMeanCI } from "./stats";

/** NHWC float32 images in [-1, 1] and, optionally, their file names. */
export interface ImageSet {
  data: Float32Array;
  shape: [number, number, number, number];
  files?: string[];
}

export interface Evaluator {
  params: Params;
  config: { model: EvaluatorConfig };
}

/** The DreamBooth subject as the metrics see it: its identity attributes and its instance embeddings. */
export interface SubjectReference {
  attributes: Record<string, string>;
  embeddings: Float32Array[];
}

export interface PerImage {
  file?: string;
  prompt?: string;
  predicted: Record<string, string>;
  identityAgreement?: number;
  identitySimilarity?: number;
  /** share of the prompted attributes present; absent when the prompt names none */
  promptFidelity?: number;
  promptAttributes?: PromptAttributes;
  meanLuma: number;
  pixelLumaRange: number;
}

export interface MetricsReport {
  n: number;
  metrics: {
    identityAgreement: Estimate | null;
    identitySimilarity: Estimate | null;
    promptFidelity: Estimate | null;
    diversity: Estimate | null;
    luminanceMean: Estimate;
    luminanceRange: Estimate;
    pixelLuminanceRange: Estimate;
  };
  perImage: PerImage[];
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosine: lengths ${a.length} and ${b.length} differ`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

/** Per image: mean Rec. 601 luma and the 5th–95th percentile range of its pixels' luma, images in [-1, 1]. */
export function imageLuminance(images: ImageSet): { meanLuma: number[]; pixelRange: number[] } {
  const [n, h, w, c] = images.shape;
  if (c !== 3) throw new Error(`imageLuminance: images must be RGB (got ${c} channels)`);
  const per = h * w;
  const meanLuma: number[] = [];
  const pixelRange: number[] = [];
  const y = new Float64Array(per);
  for (let i = 0; i < n; i++) {
    const o = i * per * 3;
    let s = 0;
    for (let p = 0; p < per; p++) {
      const q = o + 3 * p;
      const v = luma((images.data[q] + 1) / 2, (images.data[q + 1] + 1) / 2, (images.data[q + 2] + 1) / 2);
      y[p] = v;
      s += v;
    }
    meanLuma.push(s / per);
    const sorted = Float64Array.from(y).sort();
    pixelRange.push(percentileSorted(sorted, 95) - percentileSorted(sorted, 5));
  }
  return { meanLuma, pixelRange };
}

/** Share of the identity attributes predicted equal to the subject's. */
export function identityAgreement(predicted: Record<string, string>, subject: Record<string, string>): number {
  let same = 0;
  for (const k of IDENTITY_ATTRIBUTES) {
    if (subject[k] === undefined)
      throw new Error(`subject attributes lack "${k}"; fix: regenerate the instance images with \`dreambooth data\``);
    if (predicted[k] === subject[k]) same++;
  }
  return same / IDENTITY_ATTRIBUTES.length;
}

/** Share of the prompted attributes predicted; undefined when the prompt names none. */
export function promptFidelity(predicted: Record<string, string>, asked: PromptAttributes): number | undefined {
  const keys = Object.keys(asked) as (keyof PromptAttributes)[];
  if (!keys.length) return undefined;
  return keys.filter((k) => predicted[k] === asked[k]).length / keys.length;
}

/** Mean of 1 − cos over the pairs (i, j), i < j, of distinct items in `indices` (resampled duplicates are skipped). */
function meanPairwiseDistance(emb: Float32Array[], indices: number[], cos: (i: number, j: number) => number): number {
  let s = 0;
  let k = 0;
  for (let a = 0; a < indices.length; a++) {
    for (let b = a + 1; b < indices.length; b++) {
      if (indices[a] === indices[b]) continue;
      s += 1 - cos(indices[a], indices[b]);
      k++;
    }
  }
  return k ? s / k : NaN;
}

/** The subject's reference: embeddings of its instance images, and its identity attributes. */
export async function subjectReference(
  evaluator: Evaluator,
  instances: ImageSet,
  attributes: Record<string, string>,
): Promise<SubjectReference> {
  const preds = await predict(evaluator.params, instances, evaluator.config.model);
  return { attributes, embeddings: preds.map((p) => p.embedding) };
}

export interface MetricsOptions {
  subject?: SubjectReference;
  /** one prompt per image (same order), or one for all */
  prompts?: string | string[];
  /** seed of the bootstrap resamples (default 0) */
  seed?: number;
}

/** All metrics on a set of images. Deterministic for the same images, evaluator, options and backend. */
export async function computeMetrics(
  evaluator: Evaluator,
  images: ImageSet,
  opts: MetricsOptions = {},
): Promise<MetricsReport> {
  const n = images.shape[0];
  if (n === 0) throw new Error("computeMetrics: no images; fix: pass a folder or array with at least one image");
  const prompts = typeof opts.prompts === "string" ? Array(n).fill(opts.prompts) : opts.prompts;
  if (prompts && prompts.length !== n)
    throw new Error(
      `computeMetrics: ${prompts.length} prompts for ${n} images; fix: give one prompt per image, or one for all`,
    );
  const seed = opts.seed ?? 0;
  const preds: Prediction[] = await predict(evaluator.params, images, evaluator.config.model);
  const lum = imageLuminance(images);
  const perImage: PerImage[] = preds.map((p, i) => {
    const row: PerImage = { predicted: p.attributes, meanLuma: lum.meanLuma[i], pixelLumaRange: lum.pixelRange[i] };
    if (images.files) row.file = images.files[i];
    if (opts.subject) {
      row.identityAgreement = identityAgreement(p.attributes, opts.subject.attributes);
      const sims = opts.subject.embeddings.map((e) => cosine(p.embedding, e));
      row.identitySimilarity = sims.reduce((a, b) => a + b, 0) / sims.length;
    }
    if (prompts) {
      row.prompt = prompts[i];
      row.promptAttributes = parsePromptAttributes(prompts[i]);
      const f = promptFidelity(p.attributes, row.promptAttributes);
      if (f !== undefined) row.promptFidelity = f;
    }
    return row;
  });
  const values = (k: keyof PerImage) => perImage.map((r) => r[k]).filter((v): v is number => typeof v === "number");
  const orNull = (xs: number[]) => (xs.length ? meanCI(xs) : null);
  const orShares = (xs: number[], s: string) => (xs.length ? shareMeanCI(xs, s) : null);
  const emb = preds.map((p) => p.embedding);
  const cosCache = new Map<number, number>();
  const cos = (i: number, j: number) => {
    const key = i * n + j;
    let v = cosCache.get(key);
    if (v === undefined) cosCache.set(key, (v = cosine(emb[i], emb[j])));
    return v;
  };
  const meanLuma = lum.meanLuma;
  const range = (idx: number[]) => {
    const s = Float64Array.from(idx.map((i) => meanLuma[i])).sort();
    return percentileSorted(s, 95) - percentileSorted(s, 5);
  };
  return {
    n,
    metrics: {
      identityAgreement: orShares(values("identityAgreement"), `${seed}/agreement`),
      identitySimilarity: orNull(values("identitySimilarity")),
      promptFidelity: orShares(values("promptFidelity"), `${seed}/prompt`),
      diversity: n >= 2 ? bootstrapCI(n, (idx) => meanPairwiseDistance(emb, idx, cos), `${seed}/diversity`) : null,
      luminanceMean: meanCI(meanLuma),
      luminanceRange: bootstrapCI(n, range, `${seed}/luminance-range`),
      pixelLuminanceRange: meanCI(lum.pixelRange),
    },
    perImage,
  };
}

// ---- folders --------------------------------------------------------------------------------------

/**
 * A folder of images at their own (common) size, in [-1, 1]. No images, unreadable images and images
 * of different sizes are errors naming the file and the fix (lib/data `loadImageFolder`).
 */
export async function readImageSet(dir: string): Promise<ImageSet> {
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((f) => !f.startsWith(".") && /\.(png|jpe?g|webp)$/i.test(f))
      .sort();
  } catch {
    names = [];
  }
  // the size of the first readable image; loadImageFolder then checks every image against it
  let size = 64;
  for (const f of names) {
    try {
      const m = await sharp(path.join(dir, f)).metadata();
      if (m.width && m.height) {
        size = m.width === m.height ? m.width : Math.min(m.width, m.height);
        break;
      }
    } catch {
      // reported by loadImageFolder with its name and fix
    }
  }
  const folder = await loadImageFolder(dir, size);
  return { data: folder.data, shape: folder.shape, files: folder.files.map((f) => path.basename(f)) };
}

/**
 * Prompts for the images of a folder from a JSON file: a string (one prompt for all) or an object
 * mapping file name → prompt that names exactly the folder's images.
 */
export function readPrompts(file: string, images: string[]): string | string[] {
  const fix = `fix: write ${file} as a JSON string (one prompt for all) or an object {"<image file>": "<prompt>", …} naming every image`;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(
      `prompts file ${file} ${code ? `cannot be read (${code})` : `is not valid JSON (${(e as Error).message})`}; ${fix}`,
    );
  }
  if (typeof raw === "string") return raw;
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new ImageError(`prompts file ${file} holds ${Array.isArray(raw) ? "an array" : typeof raw}; ${fix}`);
  const map = raw as Record<string, unknown>;
  const missing = images.filter((f) => !(f in map));
  const extra = Object.keys(map).filter((k) => !images.includes(k));
  const bad = Object.entries(map)
    .filter(([, v]) => typeof v !== "string")
    .map(([k]) => k);
  if (missing.length || extra.length || bad.length) {
    const parts = [
      missing.length &&
        `no prompt for ${missing.length} image(s): ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}`,
      extra.length &&
        `prompts for ${extra.length} file(s) not in the folder: ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}`,
      bad.length && `non-string prompt for: ${bad.slice(0, 5).join(", ")}`,
    ].filter(Boolean);
    throw new ImageError(`prompts file ${file} does not match the images: ${parts.join("; ")}; ${fix}`);
  }
  return images.map((f) => map[f] as string);
}

/** The subject from an instance folder (lib/data `writeInstanceImages`: images + metadata.json). */
export async function readSubject(evaluator: Evaluator, dir: string): Promise<SubjectReference & { prompt?: string }> {
  const metaFile = path.join(dir, "metadata.json");
  const fix =
    "fix: write the instance images with `dreambooth data` (they come with metadata.json), or pass --subject <that folder>";
  let meta: { attributes?: Record<string, string>; prompt?: string };
  try {
    meta = JSON.parse(fs.readFileSync(metaFile, "utf8"));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(
      `subject metadata ${metaFile} ${code ? `cannot be read (${code})` : `is not valid JSON (${(e as Error).message})`}; ${fix}`,
    );
  }
  if (!meta.attributes || IDENTITY_ATTRIBUTES.some((k) => typeof meta.attributes![k] !== "string")) {
    throw new ImageError(
      `subject metadata ${metaFile} lacks the identity attributes (${IDENTITY_ATTRIBUTES.join(", ")}); ${fix}`,
    );
  }
  const instances = await readImageSet(dir);
  return { ...(await subjectReference(evaluator, instances, meta.attributes)), prompt: meta.prompt };
}
