/**
 * The DreamBooth subject: one fixed facesjs identity, rendered as 5 instance images (the paper's
 * Fig. 3 uses 5 photos of one person) with natural variation that keeps the identity: background
 * colour and brightness, a small rotation and crop, and expression (mouth and eyebrow angle only).
 */
import fs from "fs";
import path from "path";
import { rng } from "../random";
import { FaceAttributes, IDENTITY_ATTRIBUTES, IdentityAttribute, MOUTH_IDS, Mouth, BackgroundColor, Brightness } from "./attributes";
import { Face, FaceOptions, faceSvg, FaceView, generateFaceWith, loadFacesjs, renderFace, sampleBackground } from "./faces";

/** The subject's seed: negative, so no dataset split (seeds ≥ 0) contains this face. */
export const SUBJECT_SEED = -20231208;
/** The paper's instance prompt (rare token "sks") and class prompt. */
export const INSTANCE_PROMPT = "a photo of sks person";
export const CLASS_PROMPT = "a photo of person";

/** A distinctive look: curly red hair, a full beard, glasses. */
export const SUBJECT_LOOK: NonNullable<FaceOptions["force"]> = {
  gender: "male",
  skinTone: "light",
  hairStyle: "curly",
  hairColor: "red",
  facialHair: "beard",
  glasses: "glasses",
  headwear: "none",
  eyes: "round",
  eyebrows: "thick",
  mouth: "smiling",
};

/** What varies between the 5 instance images. */
export interface InstanceVariation {
  background: BackgroundColor;
  brightness: Brightness;
  mouth: Mouth;
  /** the facesjs mouth, one of MOUTH_IDS[mouth] */
  mouthId: string;
  /** added to the eyebrow angle, degrees */
  eyebrowTilt: number;
  view: FaceView;
}

export const INSTANCE_VARIATIONS: readonly InstanceVariation[] = [
  { background: "blue", brightness: "medium", mouth: "smiling", mouthId: "smile", eyebrowTilt: 0, view: { rotate: 0, zoom: 1, dx: 0, dy: 0 } },
  { background: "gray", brightness: "bright", mouth: "neutral", mouthId: "mouth", eyebrowTilt: 4, view: { rotate: -4, zoom: 1.04, dx: 6, dy: -4 } },
  { background: "green", brightness: "dark", mouth: "smiling", mouthId: "smile3", eyebrowTilt: -3, view: { rotate: 3, zoom: 0.96, dx: -8, dy: 5 } },
  { background: "yellow", brightness: "very bright", mouth: "neutral", mouthId: "mouth3", eyebrowTilt: 2, view: { rotate: -2, zoom: 1.02, dx: 4, dy: 8 } },
  { background: "purple", brightness: "very dark", mouth: "smiling", mouthId: "smile2", eyebrowTilt: -5, view: { rotate: 4, zoom: 0.98, dx: -4, dy: -6 } },
];

/** The subject's identity attributes (fixed across its instance images). */
export function subjectAttributes(): Pick<FaceAttributes, IdentityAttribute> {
  const out = {} as Record<IdentityAttribute, string>;
  for (const k of IDENTITY_ATTRIBUTES) out[k] = SUBJECT_LOOK[k] as string;
  return out as Pick<FaceAttributes, IdentityAttribute>;
}

/** Instance image `i` (0–4) of the subject as a Face, captioned with the instance prompt. */
export async function subjectFace(i: number, size = 64): Promise<Face> {
  const v = INSTANCE_VARIATIONS[i];
  if (!v) throw new RangeError(`subject instance index must be 0–${INSTANCE_VARIATIONS.length - 1} (got ${i})`);
  const lib = await loadFacesjs();
  const base = generateFaceWith(lib, SUBJECT_SEED, { force: SUBJECT_LOOK, jitter: false, size });
  const config = JSON.parse(JSON.stringify(base.config)) as typeof base.config;
  if (!MOUTH_IDS[v.mouth].includes(v.mouthId)) throw new Error(`instance ${i}: mouth "${v.mouthId}" is not one of MOUTH_IDS.${v.mouth}`);
  config.mouth.id = v.mouthId;
  config.eyebrow.angle += v.eyebrowTilt;
  const bg = sampleBackground(rng(SUBJECT_SEED, "instance", i), v.background, v.brightness);
  const attributes: FaceAttributes = {
    ...base.attributes,
    mouth: v.mouth,
    background: v.background,
    brightness: v.brightness,
    backgroundRgb: bg.rgb,
    backgroundLuma: bg.luma,
  };
  return { seed: SUBJECT_SEED, attributes, caption: INSTANCE_PROMPT, config, view: v.view, svg: faceSvg(lib, config, bg.rgb, v.view, size) };
}

export interface InstanceMetadata {
  prompt: string;
  classPrompt: string;
  subjectSeed: number;
  size: number;
  attributes: Pick<FaceAttributes, IdentityAttribute>;
  images: { file: string; attributes: FaceAttributes }[];
}

/** Writes the 5 instance images `instance-0.png …` and `metadata.json` to `dir` (e.g. data/instance). */
export async function writeInstanceImages(dir: string, size = 64): Promise<InstanceMetadata> {
  fs.mkdirSync(dir, { recursive: true });
  const images: InstanceMetadata["images"] = [];
  for (let i = 0; i < INSTANCE_VARIATIONS.length; i++) {
    const face = await subjectFace(i, size);
    const file = `instance-${i}.png`;
    fs.writeFileSync(path.join(dir, file), (await renderFace(face, size)).png);
    images.push({ file, attributes: face.attributes });
  }
  const meta: InstanceMetadata = { prompt: INSTANCE_PROMPT, classPrompt: CLASS_PROMPT, subjectSeed: SUBJECT_SEED, size, attributes: subjectAttributes(), images };
  fs.writeFileSync(path.join(dir, "metadata.json"), JSON.stringify(meta, null, 2) + "\n");
  return meta;
}
