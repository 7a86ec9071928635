/**
 * Prompt → attributes: the inverse of the caption builder (lib/data/faces.ts `captionOf`), so that a
 * sample can be checked for what its prompt asked. Phrases follow that grammar:
 *   "bald head" | "<style> <colour> hair"          hairStyle (+ hairColor)
 *   "without mustache" | "mustache" | "goatee" | "beard"          facialHair
 *   "glasses" | "goggles"                           glasses
 *   "a cap" | "a headband" | "a santa hat"          headwear
 *   "<tone> skin", "<shape> eyes", "<kind> eyebrows"
 *   "smiling" | "frowning" | "neutral expression"   mouth
 *   "<brightness> <colour> background" | "<brightness> background" | "<colour> background"
 * Phrases may appear anywhere (also in free-form prompts such as the paper's "a photo of sks person
 * without mustache"); an attribute named twice with different values is an error naming the prompt.
 */
import {
  BACKGROUND_COLORS,
  BRIGHTNESSES,
  CategoricalAttribute,
  EYEBROWS,
  EYES,
  FACIAL_HAIRS,
  GLASSES,
  HAIR_COLORS,
  HAIR_STYLES,
  HEADWEARS,
  SKIN_TONES,
} from "../data/attributes";

export type PromptAttributes = Partial<Record<CategoricalAttribute, string>>;

/** Longest first, so "very dark" wins over "dark" and alternatives never match a prefix. */
const alt = (words: readonly string[]) =>
  [...words]
    .sort((a, b) => b.length - a.length)
    .map((w) => w.replace(/ /g, "\\s+"))
    .join("|");

interface Rule {
  re: RegExp;
  read: (m: RegExpMatchArray) => PromptAttributes;
}

const RULES: Rule[] = [
  { re: /\bbald(?:\s+head)?\b/g, read: () => ({ hairStyle: "bald" }) },
  {
    re: new RegExp(
      `\\b(?:(${alt(HAIR_STYLES.filter((s) => s !== "bald"))})\\s+)?(?:(${alt(HAIR_COLORS)})\\s+)?hair\\b`,
      "g",
    ),
    read: (m) => ({ ...(m[1] && { hairStyle: m[1] }), ...(m[2] && { hairColor: m[2] }) }),
  },
  {
    re: /\b(?:without|no)\s+(?:a\s+)?(?:mustache|moustache|beard|goatee|facial\s+hair)\b/g,
    read: () => ({ facialHair: "none" }),
  },
  {
    re: new RegExp(
      `(?<!without\\s+(?:a\\s+)?|no\\s+(?:a\\s+)?)\\b(${alt(FACIAL_HAIRS.filter((f) => f !== "none"))})\\b`,
      "g",
    ),
    read: (m) => ({ facialHair: m[1] }),
  },
  { re: /\b(?:without|no)\s+(?:glasses|goggles)\b/g, read: () => ({ glasses: "none" }) },
  {
    re: new RegExp(`(?<!without\\s+|no\\s+)\\b(${alt(GLASSES.filter((g) => g !== "none"))})\\b`, "g"),
    read: (m) => ({ glasses: m[1] }),
  },
  {
    re: new RegExp(`\\b(${alt(HEADWEARS.filter((h) => h !== "none"))})\\b`, "g"),
    read: (m) => ({ headwear: m[1].replace(/\s+/g, " ") }),
  },
  { re: new RegExp(`\\b(${alt(SKIN_TONES)})\\s+skin\\b`, "g"), read: (m) => ({ skinTone: m[1] }) },
  { re: new RegExp(`\\b(${alt(EYES)})\\s+eyes\\b`, "g"), read: (m) => ({ eyes: m[1] }) },
  { re: new RegExp(`\\b(${alt(EYEBROWS)})\\s+eyebrows\\b`, "g"), read: (m) => ({ eyebrows: m[1] }) },
  {
    re: /\b(smiling|frowning|neutral\s+expression)\b/g,
    read: (m) => ({ mouth: m[1].startsWith("neutral") ? "neutral" : m[1] }),
  },
  {
    re: new RegExp(`\\b(?:(${alt(BRIGHTNESSES)})\\s+)?(?:(${alt(BACKGROUND_COLORS)})\\s+)?background\\b`, "g"),
    read: (m) => ({ ...(m[1] && { brightness: m[1].replace(/\s+/g, " ") }), ...(m[2] && { background: m[2] }) }),
  },
];

/** The attributes a prompt asks for, by the caption grammar above. */
export function parsePromptAttributes(prompt: string): PromptAttributes {
  if (typeof prompt !== "string")
    throw new TypeError(`parsePromptAttributes: prompt must be a string (got ${typeof prompt})`);
  const text = prompt.toLowerCase();
  const out: PromptAttributes = {};
  for (const rule of RULES) {
    for (const m of text.matchAll(rule.re)) {
      for (const [k, v] of Object.entries(rule.read(m)) as [CategoricalAttribute, string][]) {
        const prev = out[k];
        if (prev !== undefined && prev !== v)
          throw new Error(`prompt "${prompt}" asks for ${k} "${prev}" and "${v}"; fix: name one value per attribute`);
        out[k] = v;
      }
    }
  }
  return out;
}
