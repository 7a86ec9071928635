/**
 * The attributes of a generated face: a typed record whose categorical fields each have an exported
 * vocabulary, so that an evaluator can predict them as classes, and the groups of facesjs feature ids
 * (facesjs 5.0.3, `svgsIndex`) behind each class. Groups were chosen by eye from renders so that a
 * class stays visible at 64×64; ids that vanish at that size (thin hatched stubble, sideburns only,
 * tiny chin patches, eye-black) or that change the face's class (facemask) are left out.
 */

/** The latent facesjs body type: it picks eye, eyebrow and head shapes; captions always say "person". */
export const GENDERS = ["male", "female"] as const;
export const SKIN_TONES = ["light", "medium", "dark"] as const;
export const HAIR_STYLES = ["bald", "short", "curly", "spiky", "long"] as const;
export const HAIR_COLORS = ["black", "brown", "blond", "red", "gray"] as const;
export const FACIAL_HAIRS = ["none", "mustache", "goatee", "beard"] as const;
export const GLASSES = ["none", "glasses", "goggles"] as const;
export const HEADWEARS = ["none", "cap", "headband", "santa hat"] as const;
export const EYES = ["round", "almond", "narrow"] as const;
export const EYEBROWS = ["thick", "thin"] as const;
export const MOUTHS = ["smiling", "neutral", "frowning"] as const;
export const BACKGROUND_COLORS = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "gray"] as const;
/** Background brightness, binned by Rec. 601 luma (see `BRIGHTNESS_LUMA`). */
export const BRIGHTNESSES = ["very dark", "dark", "medium", "bright", "very bright"] as const;

export type Gender = (typeof GENDERS)[number];
export type SkinTone = (typeof SKIN_TONES)[number];
export type HairStyle = (typeof HAIR_STYLES)[number];
export type HairColor = (typeof HAIR_COLORS)[number];
export type FacialHair = (typeof FACIAL_HAIRS)[number];
export type Glasses = (typeof GLASSES)[number];
export type Headwear = (typeof HEADWEARS)[number];
export type Eyes = (typeof EYES)[number];
export type Eyebrows = (typeof EYEBROWS)[number];
export type Mouth = (typeof MOUTHS)[number];
export type BackgroundColor = (typeof BACKGROUND_COLORS)[number];
export type Brightness = (typeof BRIGHTNESSES)[number];

/** Every categorical attribute with its vocabulary, in a fixed order (an evaluator's heads). */
export const ATTRIBUTE_CLASSES = {
  gender: GENDERS,
  skinTone: SKIN_TONES,
  hairStyle: HAIR_STYLES,
  hairColor: HAIR_COLORS,
  facialHair: FACIAL_HAIRS,
  glasses: GLASSES,
  headwear: HEADWEARS,
  eyes: EYES,
  eyebrows: EYEBROWS,
  mouth: MOUTHS,
  background: BACKGROUND_COLORS,
  brightness: BRIGHTNESSES,
} as const;
export type CategoricalAttribute = keyof typeof ATTRIBUTE_CLASSES;
export const CATEGORICAL_ATTRIBUTES = Object.keys(ATTRIBUTE_CLASSES) as CategoricalAttribute[];

/** The attributes that make an identity: what stays fixed across the subject's instance images. */
export const IDENTITY_ATTRIBUTES = [
  "gender", "skinTone", "hairStyle", "hairColor", "facialHair", "glasses", "headwear", "eyes", "eyebrows",
] as const satisfies readonly CategoricalAttribute[];
export type IdentityAttribute = (typeof IDENTITY_ATTRIBUTES)[number];

export interface FaceAttributes {
  gender: Gender;
  skinTone: SkinTone;
  hairStyle: HairStyle;
  hairColor: HairColor;
  facialHair: FacialHair;
  glasses: Glasses;
  headwear: Headwear;
  eyes: Eyes;
  eyebrows: Eyebrows;
  mouth: Mouth;
  background: BackgroundColor;
  brightness: Brightness;
  /** the background's sRGB colour, 0–255 */
  backgroundRgb: [number, number, number];
  /** the background's Rec. 601 luma in [0, 1] */
  backgroundLuma: number;
}

/** Class index of each categorical attribute (the evaluator's targets). */
export function attributeIndices(a: FaceAttributes): Record<CategoricalAttribute, number> {
  const out = {} as Record<CategoricalAttribute, number>;
  for (const k of CATEGORICAL_ATTRIBUTES) {
    const i = (ATTRIBUTE_CLASSES[k] as readonly string[]).indexOf(a[k]);
    if (i < 0) throw new Error(`attribute ${k} has value "${a[k]}", not one of: ${ATTRIBUTE_CLASSES[k].join(", ")}`);
    out[k] = i;
  }
  return out;
}

// ---- facesjs ids behind each class -------------------------------------------------------------

/** Skin colours: facesjs's own palettes (generate.js `colors`), binned by luma. */
export const SKIN_COLORS: Record<SkinTone, readonly string[]> = {
  light: ["#f2d6cb", "#fedac7", "#f0c5a3", "#ddb7a0"],
  medium: ["#eab687", "#bb876f", "#aa816f", "#a67358"],
  dark: ["#ad6453", "#74453d", "#5c3937"],
};

/** Hair colours: facesjs's palettes where they fit, plus shades for the classes it lacks (gray). */
export const HAIR_COLOR_HEX: Record<HairColor, readonly string[]> = {
  black: ["#272421", "#0f0902", "#1c1008"],
  brown: ["#5a3825", "#6b4226", "#4a2c1a"],
  blond: ["#e9c67b", "#d7bf91", "#f0d890"],
  red: ["#b55239", "#a33a1f", "#c4622d"],
  gray: ["#9a9a9a", "#b8b8b8", "#d4d4d4"],
};

export const HAIR_IDS: Record<HairStyle, readonly string[]> = {
  bald: ["bald", "short-bald", "short-fade", "short-fade-2"],
  short: [
    "crop", "crop-fade", "crop-fade2", "short", "short2", "hair", "middle-part", "parted", "messy",
    "shortBangs", "fauxhawk-fade", "high", "juice", "tall-fade", "curlyFade1", "curlyFade2",
  ],
  curly: ["afro2", "curly", "curly2", "curly3", "blowoutFade", "faux-hawk", "short3"],
  spiky: ["spike", "spike2", "spike3", "spike4", "messy-short"],
  long: [
    "female1", "female2", "female3", "female4", "female5", "female6", "female7", "female8", "female9",
    "female10", "female11", "female12", "longHair",
  ],
};
/** Long hair also draws hair behind the head (facesjs `hairBg`); every other style draws none. */
export const HAIR_BG_IDS = ["female1", "female2", "female3", "female4", "female5", "longHair", "shaggy"] as const;

export const FACIAL_HAIR_IDS: Record<FacialHair, readonly string[]> = {
  none: ["none"],
  mustache: ["mustache1", "mustache1SB1", "mustache1SB2"],
  goatee: ["fullgoatee", "fullgoatee2", "fullgoatee3", "fullgoatee4", "fullgoatee5", "fullgoatee6", "goatee1-stache", "goatee4-stache"],
  beard: [
    "beard-point", "beard1", "beard2", "beard3", "beard4", "beard5", "beard6", "honest-abe-stache", "logan",
    "loganGoatee2Stache", "loganGoatee3soulStache", "muttonGoatee1Stache", "muttonGoatee2Stache",
  ],
};

export const GLASSES_IDS: Record<Glasses, readonly string[]> = {
  none: ["none"],
  glasses: ["glasses2-black", "glasses2-primary", "glasses2-secondary"],
  goggles: ["glasses1-primary", "glasses1-secondary"],
};

export const HEADWEAR_IDS: Record<Headwear, readonly string[]> = {
  none: ["none"],
  cap: ["hat", "hat2", "hat3"],
  headband: ["headband", "headband-high"],
  "santa hat": ["santa-hat"],
};
/**
 * Headwear that covers the hair: facesjs (display.js) then redraws curly and spiky hair as "short",
 * so under these only bald, short and long are drawn as themselves.
 */
export const COVERING_HEADWEAR: readonly Headwear[] = ["cap", "santa hat"];
// Under these, `hairStyle` is bald, short or long, and only long hair (and the hair colour at the
// temples) is visible: an evaluator should not score hair style on faces wearing them.

/**
 * Whether a face shows its hair colour: not on a bald head, and under a cap or santa hat only when the
 * hair is long. The caption names the colour only then (lib/data `captionOf`), and an evaluator is not
 * scored on it otherwise: the committed one misread the colour of 12–19 % of bald heads (it can only
 * go by the eyebrows) and of 14–16 % of short hair under a hat, against 0–1 % of visible hair.
 */
export function hairColorVisible(a: { hairStyle: HairStyle; headwear: Headwear }): boolean {
  return a.hairStyle !== "bald" && (a.hairStyle === "long" || !COVERING_HEADWEAR.includes(a.headwear));
}

/*
 * Eye, eyebrow and mouth groups: only facesjs ids whose group can be read at 64 px are drawn. The ids
 * left out were misread in ≥ 15 % of their renders by the evaluator trained on all ids (10,000 steps,
 * 1,000 held-out test faces; eyes 94.4 %, eyebrows 89.5 %, mouth 92.4 % overall): eyes eye13 (26 %),
 * eye6 (27 %), female4 (28 %), eye14 (23 %), eye15 (19 %), female7 (16 %); eyebrows eyebrow11 (39 %),
 * eyebrow13 (30 %), eyebrow5 (23 %), female10 (21 %), eyebrow6 (19 %), eyebrow1 (17 %), female2 (16 %),
 * eyebrow2 (15 %); mouths side (48 %), smile-closed (30 %), straight (18 %). A caption that names a
 * difference the picture does not show teaches a text-to-image model nothing and cannot be scored.
 * Thick against thin stayed the weakest distinction (94.5 % on 2,000 independent test faces after that
 * pruning), so a second pass left out the eyebrows that evaluator still misread in ≥ 9 % of their
 * renders: eyebrow15 (13 %), eyebrow7 (11 %), eyebrow12 (10 %) and eyebrow20 (9 %).
 */
export const EYE_IDS: Record<Eyes, readonly string[]> = {
  round: ["eye1", "eye10", "eye11", "eye2", "eye3", "eye4", "eye8", "female1", "female11", "female12", "female3"],
  almond: ["eye12", "eye9", "female10", "female14", "female15", "female16", "female2", "female8", "female9"],
  narrow: ["eye16", "eye17", "eye18", "eye19", "eye5", "eye7", "female13", "female5", "female6"],
};

export const EYEBROW_IDS: Record<Eyebrows, readonly string[]> = {
  thick: ["eyebrow10", "eyebrow14", "eyebrow8", "female9"],
  thin: ["eyebrow16", "eyebrow17", "eyebrow18", "eyebrow19", "eyebrow3", "female1", "female3"],
};

export const MOUTH_IDS: Record<Mouth, readonly string[]> = {
  smiling: ["smile", "smile2", "smile3", "smile4"],
  neutral: ["mouth", "mouth2", "mouth3", "mouth4", "mouth5", "mouth6", "mouth7", "mouth8"],
  frowning: ["angry", "closed"],
};

// ---- background colours -------------------------------------------------------------------------

/** Hue in degrees of each background colour name; gray has zero saturation. */
export const BACKGROUND_HUES: Record<BackgroundColor, number> = {
  red: 0, orange: 30, yellow: 55, green: 120, cyan: 185, blue: 220, purple: 275, pink: 325, gray: 0,
};

/**
 * Target Rec. 601 luma of each brightness bin (centre and half-width of the sampled interval).
 * Bins are set by luma, not HSL lightness, so that "very bright" yellow and "very bright" blue are
 * equally bright: the zero-terminal-SNR claim (Lin et al. 2023, sec. 3) is about overall brightness.
 */
export const BRIGHTNESS_LUMA: Record<Brightness, { centre: number; halfWidth: number }> = {
  "very dark": { centre: 0.06, halfWidth: 0.04 },
  dark: { centre: 0.27, halfWidth: 0.06 },
  medium: { centre: 0.5, halfWidth: 0.06 },
  bright: { centre: 0.73, halfWidth: 0.06 },
  "very bright": { centre: 0.94, halfWidth: 0.04 },
};

/** Rec. 601 luma Y' = 0.299 R' + 0.587 G' + 0.114 B' of gamma-encoded sRGB in [0, 1] (ITU-R BT.601). */
export function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** The brightness bin whose centre is nearest to a luma (for scoring images by the same bins). */
export function brightnessOfLuma(y: number): Brightness {
  let best: Brightness = BRIGHTNESSES[0];
  for (const b of BRIGHTNESSES) if (Math.abs(y - BRIGHTNESS_LUMA[b].centre) < Math.abs(y - BRIGHTNESS_LUMA[best].centre)) best = b;
  return best;
}

/** HSL → sRGB in [0, 1] (CSS Color 4, "Converting HSL colors to sRGB"); h in degrees, s and l in [0, 1]. */
export function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const a = s * Math.min(l, 1 - l);
    return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  return [f(0), f(8), f(4)];
}

/**
 * The sRGB colour (0–255) of hue `h` and saturation `s` whose luma is `target`: bisection on HSL
 * lightness, along which luma increases monotonically from 0 (black) to 1 (white).
 */
export function colorWithLuma(h: number, s: number, target: number): [number, number, number] {
  if (!(target >= 0 && target <= 1)) throw new Error(`colorWithLuma: target luma must be in [0, 1] (got ${target})`);
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (luma(...hslToRgb(h, s, mid)) < target) lo = mid;
    else hi = mid;
  }
  const rgb = hslToRgb(h, s, (lo + hi) / 2);
  return [Math.round(rgb[0] * 255), Math.round(rgb[1] * 255), Math.round(rgb[2] * 255)];
}

export function rgbHex([r, g, b]: readonly number[]): string {
  return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
}
