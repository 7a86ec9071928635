/**
 * Seeded cartoon faces: attributes sampled class-first (so every class has enough examples), drawn
 * by facesjs (zengm-games/facesjs 5.0.3, Apache-2.0), framed on a coloured background, captioned in
 * the paper's prompt style ("a photo of person with …"), rendered by sharp (librsvg).
 *
 * facesjs draws its own remaining details (nose, ears, face lines, fatness, …) from `Math.random`;
 * `generateFace` swaps in a seeded stream for the duration of that synchronous call and restores the
 * original in a `finally`, so a seed gives the same face, caption and bytes every time.
 */
import type { FaceConfig, Overrides } from "facesjs" with { "resolution-mode": "import" };
import sharp from "sharp";
import { rng, Rng } from "../random";
import {
  BACKGROUND_COLORS, BACKGROUND_HUES, BRIGHTNESSES, BRIGHTNESS_LUMA, CategoricalAttribute, COVERING_HEADWEAR, colorWithLuma,
  EYEBROW_IDS, EYEBROWS, EYE_IDS, EYES, FACIAL_HAIR_IDS, FACIAL_HAIRS, FaceAttributes, GLASSES, GLASSES_IDS, HAIR_BG_IDS,
  HAIR_COLOR_HEX, HAIR_COLORS, HAIR_IDS, HAIR_STYLES, HEADWEAR_IDS, HEADWEARS, luma, MOUTH_IDS, MOUTHS, rgbHex, SKIN_COLORS,
  SKIN_TONES, ATTRIBUTE_CLASSES, CATEGORICAL_ATTRIBUTES, HairStyle,
} from "./attributes";

type Facesjs = typeof import("facesjs", { with: { "resolution-mode": "import" } });
let facesjs: Promise<Facesjs> | undefined;
/** facesjs is ESM-only: loaded once with a real dynamic import. */
export function loadFacesjs(): Promise<Facesjs> {
  return (facesjs ??= import("facesjs"));
}

/** Framing of the face in facesjs's 400×600 canvas: rotation (degrees) about the face centre, zoom, shift. */
export interface FaceView {
  rotate: number;
  zoom: number;
  dx: number;
  dy: number;
}
/** The square that frames the head in facesjs units: centre and side (measured from 60 renders: hair top ≈ 78 (curly and tall styles ≈ 60), chin ≈ 505, ears 44–354). */
export const FACE_FRAME = { cx: 200, cy: 290, side: 460 } as const;
export const NO_JITTER: FaceView = { rotate: 0, zoom: 1, dx: 0, dy: 0 };

export interface Face {
  seed: number;
  attributes: FaceAttributes;
  caption: string;
  /** the facesjs face (ids, colours); render with `faceSvg` */
  config: FaceConfig;
  view: FaceView;
  /** the framed SVG at the size asked for */
  svg: string;
}

export interface FaceOptions {
  /** force some classes (the rest are sampled); impossible combinations are an error */
  force?: Partial<Pick<FaceAttributes, CategoricalAttribute>>;
  /** SVG size in pixels (default 64) */
  size?: number;
  /** small random rotation (±4°), zoom (±5 %) and shift (±12 units ≈ ±2.7 %) of the framing (default true) */
  jitter?: boolean;
  /** caption subject, e.g. "sks person" (default "person") */
  subject?: string;
}

/** The item at uniform draw `u` ∈ [0, 1) under the given weights (which need not sum to 1; default equal). */
function pick<T>(u: number, items: readonly T[], weights?: readonly number[]): T {
  if (!weights) return items[Math.min(items.length - 1, Math.floor(u * items.length))];
  const total = weights.reduce((a, b) => a + b, 0);
  let x = u * total;
  for (let i = 0; i < items.length; i++) {
    x -= weights[i];
    if (x < 0) return items[i];
  }
  return items[items.length - 1];
}
const uniform = (r: Rng, lo: number, hi: number) => lo + (hi - lo) * r();

/**
 * Samples the categorical attributes, class first. Class weights (stated so an evaluator knows the prior):
 * facial hair none 0.4, others 0.2 each; gender male whenever there is facial hair, else female 2/3;
 * hair style uniform; headwear none/cap/headband/santa hat 0.4/0.2/0.2/0.2, but always none for curly and
 * spiky hair (a covering hat redraws those as short, see `COVERING_HEADWEAR`, and a headband hides them
 * at 64 px), so overall none 0.64, each other 0.12; glasses none/glasses/goggles 0.5/0.25/0.25;
 * everything else uniform.
 *
 * The same draws are made whatever is forced, so forcing one attribute changes only that attribute
 * (and those that depend on it): `force` makes counterfactual pairs.
 */
export function sampleAttributes(r: Rng, force: FaceOptions["force"] = {}): Omit<FaceAttributes, "backgroundRgb" | "backgroundLuma"> {
  for (const [k, v] of Object.entries(force)) {
    const vocab = (ATTRIBUTE_CLASSES as Record<string, readonly string[]>)[k];
    if (!vocab) throw new Error(`force: unknown attribute "${k}"; known: ${Object.keys(ATTRIBUTE_CLASSES).join(", ")}`);
    if (!vocab.includes(v as string)) throw new Error(`force.${k}: "${v}" is not one of: ${vocab.join(", ")}`);
  }
  const f = force;
  if (f.gender === "female" && f.facialHair && f.facialHair !== "none") {
    throw new Error(`force: facial hair "${f.facialHair}" needs gender "male" (facesjs draws facial hair on male faces only)`);
  }
  const curlyOrSpiky = (s: HairStyle) => s === "curly" || s === "spiky";
  if (f.headwear && COVERING_HEADWEAR.includes(f.headwear) && f.hairStyle && curlyOrSpiky(f.hairStyle)) {
    throw new Error(`force: hair style "${f.hairStyle}" cannot be seen under a ${f.headwear}; use headwear "none" or "headband"`);
  }
  // one draw per attribute, in a fixed order, whatever is forced
  const u = Object.fromEntries(CATEGORICAL_ATTRIBUTES.map((k) => [k, r()])) as Record<CategoricalAttribute, number>;
  const facialHair = f.facialHair ?? (f.gender === "female" ? "none" : pick(u.facialHair, FACIAL_HAIRS, [0.4, 0.2, 0.2, 0.2]));
  const gender = f.gender ?? (facialHair !== "none" ? "male" : u.gender < 2 / 3 ? "female" : "male");
  const headwearDrawn = pick(u.headwear, HEADWEARS, [0.4, 0.2, 0.2, 0.2]);
  // a forced covering hat rules out curly and spiky hair: map those draws onto bald/short/long
  const hairStyle =
    f.hairStyle ?? (f.headwear && COVERING_HEADWEAR.includes(f.headwear) ? pick(u.hairStyle, ["bald", "short", "long"] as const) : pick(u.hairStyle, HAIR_STYLES));
  const headwear = f.headwear ?? (curlyOrSpiky(hairStyle) ? "none" : headwearDrawn);
  return {
    gender,
    skinTone: f.skinTone ?? pick(u.skinTone, SKIN_TONES),
    hairStyle,
    hairColor: f.hairColor ?? pick(u.hairColor, HAIR_COLORS),
    facialHair,
    glasses: f.glasses ?? pick(u.glasses, GLASSES, [0.5, 0.25, 0.25]),
    headwear,
    eyes: f.eyes ?? pick(u.eyes, EYES),
    eyebrows: f.eyebrows ?? pick(u.eyebrows, EYEBROWS),
    mouth: f.mouth ?? pick(u.mouth, MOUTHS),
    background: f.background ?? pick(u.background, BACKGROUND_COLORS),
    brightness: f.brightness ?? pick(u.brightness, BRIGHTNESSES),
  };
}

/** A background colour of a name and brightness bin: hue ±8°, saturation 0.45–0.75 (gray: 0), luma within the bin. */
export function sampleBackground(r: Rng, name: FaceAttributes["background"], brightness: FaceAttributes["brightness"]) {
  const hue = (BACKGROUND_HUES[name] + uniform(r, -8, 8) + 360) % 360;
  const sat = name === "gray" ? 0 : uniform(r, 0.45, 0.75);
  const bin = BRIGHTNESS_LUMA[brightness];
  const rgb = colorWithLuma(hue, sat, uniform(r, bin.centre - bin.halfWidth, bin.centre + bin.halfWidth));
  return { rgb, luma: luma(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255) };
}

/** The facesjs ids and colours that draw the given attributes. */
export function faceOverrides(r: Rng, a: Omit<FaceAttributes, "backgroundRgb" | "backgroundLuma">): Overrides {
  // one draw per feature whatever the classes, so a forced attribute leaves the other features unchanged
  const u = Array.from({ length: 10 }, () => r());
  const covered = COVERING_HEADWEAR.includes(a.headwear);
  // Under a cap facesjs redraws most short styles as "short"; pick it directly so the record matches the picture.
  const hairId = covered && a.hairStyle === "short" ? "short" : pick(u[0], HAIR_IDS[a.hairStyle]);
  return {
    body: { color: pick(u[1], SKIN_COLORS[a.skinTone]) },
    hair: { id: hairId, color: pick(u[2], HAIR_COLOR_HEX[a.hairColor]) },
    hairBg: { id: a.hairStyle === "long" ? pick(u[3], HAIR_BG_IDS) : "none" },
    facialHair: { id: pick(u[4], FACIAL_HAIR_IDS[a.facialHair]) },
    glasses: { id: pick(u[5], GLASSES_IDS[a.glasses]) },
    accessories: { id: pick(u[6], HEADWEAR_IDS[a.headwear]) },
    eye: { id: pick(u[7], EYE_IDS[a.eyes]) },
    eyebrow: { id: pick(u[8], EYEBROW_IDS[a.eyebrows]) },
    mouth: { id: pick(u[9], MOUTH_IDS[a.mouth]) },
  };
}

/** Runs `fn` with `Math.random` replaced by `r`; the original is restored even if `fn` throws. */
export function withRandom<T>(r: () => number, fn: () => T): T {
  const saved = Math.random;
  Math.random = r;
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}

/**
 * The caption, in the paper's prompt style: "a photo of person with short black hair, mustache,
 * glasses, dark blue background". Salient attributes (hair, facial hair, glasses, headwear,
 * background) appear with probability 0.9, the finer ones (skin, eyes, eyebrows, mouth) with
 * 0.35–0.5, for caption diversity; a face without facial hair says "without mustache" (the paper's
 * edit prompt) with probability 0.3. Hair under a cap or santa hat is only mentioned when long (other
 * styles do not show under it). The attribute record always keeps everything.
 */
export function captionOf(a: FaceAttributes, r: Rng, subject = "person"): string {
  const items: string[] = [];
  const maybe = (p: number, s: string) => {
    if (r() < p) items.push(s);
  };
  // under a cap or santa hat only long hair shows: the caption does not claim what cannot be seen
  if (a.hairStyle === "long" || !COVERING_HEADWEAR.includes(a.headwear)) {
    maybe(0.9, a.hairStyle === "bald" ? "bald head" : `${a.hairStyle} ${a.hairColor} hair`);
  }
  if (a.facialHair === "none") maybe(0.3, "without mustache");
  else maybe(0.9, a.facialHair);
  if (a.glasses !== "none") maybe(0.9, a.glasses);
  if (a.headwear !== "none") maybe(0.9, `a ${a.headwear}`);
  maybe(0.5, `${a.skinTone} skin`);
  maybe(0.35, `${a.eyes} eyes`);
  maybe(0.35, `${a.eyebrows} eyebrows`);
  maybe(0.5, a.mouth === "neutral" ? "neutral expression" : a.mouth);
  // background: both words, or only the brightness, or only the colour
  const u = r();
  const bright = a.brightness === "medium" ? "" : a.brightness + " ";
  if (u < 0.6) items.push(`${bright}${a.background} background`);
  else if (u < 0.75) items.push(`${a.brightness} background`);
  else if (u < 0.9) items.push(`${a.background} background`);
  return `a photo of ${subject}` + (items.length ? " with " + items.join(", ") : "");
}

function faceFromConfig(seed: number, attributes: FaceAttributes, caption: string, config: FaceConfig, view: FaceView, size: number, lib: Facesjs): Face {
  return { seed, attributes, caption, config, view, svg: faceSvg(lib, config, attributes.backgroundRgb, view, size) };
}

/** Generates a face synchronously with an already-loaded facesjs (see `loadFacesjs`). */
export function generateFaceWith(lib: Facesjs, seed: number, opts: FaceOptions = {}): Face {
  if (!Number.isSafeInteger(seed)) throw new Error(`generateFace: seed must be a safe integer (got ${seed})`);
  const { size = 64, jitter = true, subject = "person" } = opts;
  checkSize(size);
  const r = rng(seed, "face");
  const sampled = sampleAttributes(r, opts.force);
  const bg = sampleBackground(r, sampled.background, sampled.brightness);
  const attributes: FaceAttributes = { ...sampled, backgroundRgb: bg.rgb, backgroundLuma: bg.luma };
  const overrides = faceOverrides(r, sampled);
  const view: FaceView = jitter
    ? { rotate: round3(uniform(r, -4, 4)), zoom: round3(uniform(r, 0.95, 1.05)), dx: round3(uniform(r, -12, 12)), dy: round3(uniform(r, -12, 12)) }
    : { ...NO_JITTER };
  // facesjs draws everything else from Math.random: give it its own seeded stream.
  const config = withRandom(rng(seed, "facesjs"), () => lib.generate(overrides, { gender: sampled.gender }));
  const caption = captionOf(attributes, rng(seed, "caption"), subject);
  return faceFromConfig(seed, attributes, caption, config, view, size, lib);
}

/** `generateFace(seed, opts) → {attributes, caption, svg, …}`: the same seed gives the same face. */
export async function generateFace(seed: number, opts: FaceOptions = {}): Promise<Face> {
  return generateFaceWith(await loadFacesjs(), seed, opts);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function checkSize(size: number) {
  if (!Number.isInteger(size) || size < 8 || size > 4096) throw new Error(`image size must be an integer in [8, 4096] (got ${size})`);
}

/**
 * The framed SVG: facesjs's drawing (a deep copy: facesjs mutates the face it draws) rotated about the
 * face centre inside a square viewBox around the head, over a background rect that fills the frame.
 */
export function faceSvg(lib: Facesjs, config: FaceConfig, backgroundRgb: readonly number[], view: FaceView, size: number): string {
  checkSize(size);
  const raw = lib.faceToSvgString(JSON.parse(JSON.stringify(config)) as FaceConfig);
  const open = raw.indexOf(">", raw.indexOf("<svg"));
  const close = raw.lastIndexOf("</svg>");
  if (open < 0 || close < 0) throw new Error("facesjs returned something that is not an <svg> element");
  const inner = raw.slice(open + 1, close);
  const side = FACE_FRAME.side / view.zoom;
  const x = FACE_FRAME.cx + view.dx - side / 2;
  const y = FACE_FRAME.cy + view.dy - side / 2;
  const n = (v: number) => String(Math.round(v * 1000) / 1000);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="${n(x)} ${n(y)} ${n(side)} ${n(side)}">` +
    `<rect x="${n(x - side)}" y="${n(y - side)}" width="${n(3 * side)}" height="${n(3 * side)}" fill="${rgbHex(backgroundRgb)}"/>` +
    `<g transform="rotate(${n(view.rotate)} ${FACE_FRAME.cx} ${FACE_FRAME.cy})">${inner}</g></svg>`
  );
}

/** Re-frames a face's SVG at another size. */
export async function faceSvgAt(face: Face, size: number): Promise<string> {
  return faceSvg(await loadFacesjs(), face.config, face.attributes.backgroundRgb, face.view, size);
}

/** Renders to packed uint8 RGB, row-major HWC (no PNG encoding: the fast path for training). */
export async function renderFaceRgb(face: Face, size = 64): Promise<Uint8Array> {
  const svg = size === svgSize(face.svg) ? face.svg : await faceSvgAt(face, size);
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(`renderFace: rasterised ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** `renderFace(face, size) → {rgb, png}`: uint8 RGB (HWC) and the same pixels as a PNG. */
export async function renderFace(face: Face, size = 64): Promise<{ rgb: Uint8Array; png: Buffer }> {
  const rgb = await renderFaceRgb(face, size);
  return { rgb, png: await rgbToPng(rgb, size, size) };
}

export function rgbToPng(rgb: Uint8Array, width: number, height: number): Promise<Buffer> {
  if (rgb.length !== width * height * 3) throw new Error(`rgbToPng: ${rgb.length} bytes is not ${width}×${height}×3`);
  return sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

function svgSize(svg: string): number {
  const m = /^<svg[^>]* width="(\d+)"/.exec(svg);
  return m ? Number(m[1]) : -1;
}
