/**
 * Labelled renders for the evaluator: faces of a dataset split (lib/data `splitSeed`), each with a
 * "twin": the same identity drawn again with a new background, brightness, expression and framing,
 * the variation the DreamBooth subject's instance images have (lib/data/subject.ts). Twins are the
 * positive pairs of the contrastive identity loss.
 */
import {
  FaceAttributes,
  MOUTHS,
  MOUTH_IDS,
  BACKGROUND_COLORS,
  BRIGHTNESSES,
  COVERING_HEADWEAR,
  CATEGORICAL_ATTRIBUTES,
  attributeIndices,
  hairColorVisible,
} from "../data/attributes";
import { Face, FaceView, faceSvg, generateFaceWith, loadFacesjs, renderFaceRgb, sampleBackground } from "../data/faces";
import { Split, splitSeed } from "../data/dataset";
import { rng, Rng } from "../random";

/** A batch of labelled renders: uint8 RGB (HWC, image-major) and per-image targets. */
export interface LabelledFaces {
  count: number;
  size: number;
  pixels: Uint8Array;
  /** class index per attribute (CATEGORICAL_ATTRIBUTES order), count × attributes */
  targets: Int32Array;
  /** 1 where the attribute can be seen and is scored, else 0 (see `scoredMask`) */
  mask: Float32Array;
  attributes: FaceAttributes[];
  /** identity of each image (the face seed): twins share it */
  identity: number[];
}

/**
 * Which attributes can be scored on a face: under a cap or santa hat facesjs hides or redraws the
 * hair style (lib/data `COVERING_HEADWEAR`: "an evaluator should not score hair style on faces
 * wearing them"), so hair style is not scored there; hair colour is not scored where the hair does
 * not show (a bald head, short hair under such a hat: lib/data `hairColorVisible`); everything else is.
 */
export function scoredMask(a: FaceAttributes): number[] {
  return CATEGORICAL_ATTRIBUTES.map((k) =>
    (k === "hairStyle" && COVERING_HEADWEAR.includes(a.headwear)) || (k === "hairColor" && !hairColorVisible(a))
      ? 0
      : 1,
  );
}

const uniform = (r: Rng, lo: number, hi: number) => lo + (hi - lo) * r();
const pickOf = <T>(r: Rng, items: readonly T[]): T => items[Math.min(items.length - 1, Math.floor(r() * items.length))];

/** Framing jitter of the data generator (lib/data/faces.ts `generateFaceWith`): ±4°, ±5 % zoom, ±12 units shift. */
export function randomView(r: Rng): FaceView {
  const q = (x: number) => Math.round(x * 1000) / 1000;
  return {
    rotate: q(uniform(r, -4, 4)),
    zoom: q(uniform(r, 0.95, 1.05)),
    dx: q(uniform(r, -12, 12)),
    dy: q(uniform(r, -12, 12)),
  };
}

type Facesjs = Awaited<ReturnType<typeof loadFacesjs>>;

/** The twin of a face: same facesjs config (identity), new mouth, background, brightness and view. */
export function twinOf(lib: Facesjs, face: Face, r: Rng, size: number): Face {
  const mouth = pickOf(r, MOUTHS);
  const config = JSON.parse(JSON.stringify(face.config)) as Face["config"];
  config.mouth.id = pickOf(r, MOUTH_IDS[mouth]);
  const background = pickOf(r, BACKGROUND_COLORS);
  const brightness = pickOf(r, BRIGHTNESSES);
  const bg = sampleBackground(r, background, brightness);
  const view = randomView(r);
  const attributes: FaceAttributes = {
    ...face.attributes,
    mouth,
    background,
    brightness,
    backgroundRgb: bg.rgb,
    backgroundLuma: bg.luma,
  };
  return { ...face, attributes, config, view, svg: faceSvg(lib, config, bg.rgb, view, size) };
}

export interface RenderOptions {
  split: Split;
  count: number;
  /** dataset seed (lib/data `splitSeed`) */
  seed?: number;
  size?: number;
  /** also render each face's twin (images 2i and 2i+1 are a pair) */
  twins?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Renders `count` faces of a split (and their twins): deterministic in (split, seed, index). */
export async function renderLabelledFaces(opts: RenderOptions): Promise<LabelledFaces> {
  const { split, count, seed = 0, size = 64, twins = false } = opts;
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`renderLabelledFaces: count must be a positive integer (got ${count})`);
  const lib = await loadFacesjs();
  const per = twins ? 2 : 1;
  const n = count * per;
  const A = CATEGORICAL_ATTRIBUTES.length;
  const out: LabelledFaces = {
    count: n,
    size,
    pixels: new Uint8Array(n * size * size * 3),
    targets: new Int32Array(n * A),
    mask: new Float32Array(n * A),
    attributes: [],
    identity: [],
  };
  let j = 0;
  const put = async (face: Face) => {
    out.pixels.set(await renderFaceRgb(face, size), j * size * size * 3);
    const idx = attributeIndices(face.attributes);
    const m = scoredMask(face.attributes);
    CATEGORICAL_ATTRIBUTES.forEach((k, q) => {
      out.targets[j * A + q] = idx[k];
      out.mask[j * A + q] = m[q];
    });
    out.attributes.push(face.attributes);
    out.identity.push(face.seed);
    j++;
  };
  for (let i = 0; i < count; i++) {
    const s = splitSeed(seed, split, i);
    const face = generateFaceWith(lib, s, { size });
    await put(face);
    if (twins) await put(twinOf(lib, face, rng(s, "evaluator-twin"), size));
    opts.onProgress?.(i + 1, count);
  }
  return out;
}

/** Images `indices` as float32 NHWC in [-1, 1] (x / 127.5 − 1, lib/data `toSigned`). */
export function batchOf(
  faces: LabelledFaces,
  indices: readonly number[],
): { data: Float32Array; shape: [number, number, number, number] } {
  const per = faces.size * faces.size * 3;
  const data = new Float32Array(indices.length * per);
  indices.forEach((idx, b) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= faces.count)
      throw new RangeError(`batchOf: index ${idx} is outside [0, ${faces.count})`);
    const src = faces.pixels.subarray(idx * per, (idx + 1) * per);
    const o = b * per;
    for (let i = 0; i < per; i++) data[o + i] = src[i] / 127.5 - 1;
  });
  return { data, shape: [indices.length, faces.size, faces.size, 3] };
}
