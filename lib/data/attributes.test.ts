import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ATTRIBUTE_CLASSES, attributeIndices, BRIGHTNESSES, BRIGHTNESS_LUMA, brightnessOfLuma, colorWithLuma, EYEBROW_IDS, EYE_IDS,
  FACIAL_HAIR_IDS, GLASSES_IDS, HAIR_BG_IDS, HAIR_IDS, HEADWEAR_IDS, hslToRgb, IDENTITY_ATTRIBUTES, luma, MOUTH_IDS, rgbHex,
  SKIN_COLORS, HAIR_COLOR_HEX,
} from "./attributes";
import { loadFacesjs } from "./faces";

test("hslToRgb matches CSS Color 4 reference colours", () => {
  // CSS Color 4 §7: hsl(0 100% 50%) = red, hsl(120 100% 25%) = rgb(0 50% 0), hsl(240 100% 75%) = rgb(50% 50% 100%)
  assert.deepEqual(hslToRgb(0, 1, 0.5), [1, 0, 0]);
  assert.deepEqual(hslToRgb(120, 1, 0.25), [0, 0.5, 0]);
  assert.deepEqual(hslToRgb(240, 1, 0.75), [0.5, 0.5, 1]);
  assert.deepEqual(hslToRgb(77, 0, 0.3), [0.3, 0.3, 0.3]);
});

test("luma is Rec. 601 and colorWithLuma hits its target within rounding", () => {
  // BT.601 weights sum to 1: white → 1; pure green → 0.587
  assert.ok(Math.abs(luma(1, 1, 1) - 1) < 1e-12);
  assert.equal(luma(0, 1, 0), 0.587);
  for (const h of [0, 55, 220, 300]) {
    for (const target of [0.03, 0.27, 0.5, 0.73, 0.97]) {
      const rgb = colorWithLuma(h, 0.6, target);
      // 8-bit rounding moves luma by at most 0.5/255
      assert.ok(Math.abs(luma(rgb[0] / 255, rgb[1] / 255, rgb[2] / 255) - target) <= 0.5 / 255 + 1e-9, `h=${h} target=${target}`);
    }
  }
  assert.throws(() => colorWithLuma(0, 0.5, 1.2), /target luma must be in \[0, 1\]/);
  assert.equal(rgbHex([255, 0, 16]), "#ff0010");
});

test("brightness bins are ordered, disjoint, and brightnessOfLuma inverts their centres", () => {
  let prevHi = -1;
  for (const b of BRIGHTNESSES) {
    const { centre, halfWidth } = BRIGHTNESS_LUMA[b];
    assert.ok(centre - halfWidth > prevHi && centre + halfWidth <= 1 && centre - halfWidth >= 0, b);
    prevHi = centre + halfWidth;
    assert.equal(brightnessOfLuma(centre), b);
  }
});

test("every facesjs id named by a class exists in facesjs, and no id is in two classes", async () => {
  const { svgsIndex } = await loadFacesjs();
  const groups: [keyof typeof svgsIndex, Record<string, readonly string[]>][] = [
    ["hair", HAIR_IDS], ["facialHair", FACIAL_HAIR_IDS], ["glasses", GLASSES_IDS], ["accessories", HEADWEAR_IDS],
    ["eye", EYE_IDS], ["eyebrow", EYEBROW_IDS], ["mouth", MOUTH_IDS], ["hairBg", { long: HAIR_BG_IDS }],
  ];
  for (const [feature, byClass] of groups) {
    const seen = new Map<string, string>();
    for (const [cls, ids] of Object.entries(byClass)) {
      assert.ok(ids.length > 0, `${feature}.${cls} has no ids`);
      for (const id of ids) {
        assert.ok((svgsIndex[feature] as readonly string[]).includes(id), `${feature} id "${id}" (class ${cls}) is not in facesjs`);
        assert.ok(!seen.has(id), `${feature} id "${id}" is in both ${seen.get(id)} and ${cls}`);
        seen.set(id, cls);
      }
    }
  }
  for (const hexes of [...Object.values(SKIN_COLORS), ...Object.values(HAIR_COLOR_HEX)]) for (const h of hexes) assert.match(h, /^#[0-9a-f]{6}$/);
});

test("attributeIndices maps each class to its vocabulary index and rejects unknown values", () => {
  const a = {
    gender: "female", skinTone: "dark", hairStyle: "long", hairColor: "gray", facialHair: "none", glasses: "goggles",
    headwear: "santa hat", eyes: "narrow", eyebrows: "thin", mouth: "frowning", background: "gray", brightness: "very bright",
    backgroundRgb: [240, 240, 240], backgroundLuma: 0.94,
  } as const;
  const idx = attributeIndices({ ...a, backgroundRgb: [240, 240, 240] });
  for (const k of Object.keys(ATTRIBUTE_CLASSES) as (keyof typeof ATTRIBUTE_CLASSES)[]) assert.equal(ATTRIBUTE_CLASSES[k][idx[k]], a[k]);
  assert.equal(idx.headwear, 3);
  assert.throws(() => attributeIndices({ ...a, backgroundRgb: [0, 0, 0], eyes: "squint" as never }), /eyes has value "squint"/);
  for (const k of IDENTITY_ATTRIBUTES) assert.ok(k in ATTRIBUTE_CLASSES);
});
