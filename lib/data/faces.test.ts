import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { spawnSync } from "child_process";
import sharp from "sharp";
import { ATTRIBUTE_CLASSES, CATEGORICAL_ATTRIBUTES, FaceAttributes } from "./attributes";
import { generateFace, renderFace, renderFaceRgb, withRandom, loadFacesjs, generateFaceWith } from "./faces";

const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

test("the same seed gives the same face, caption and bytes; another seed does not", async () => {
  const a = await generateFace(7);
  const b = await generateFace(7);
  assert.equal(a.svg, b.svg);
  assert.equal(a.caption, b.caption);
  assert.deepEqual(a.attributes, b.attributes);
  const ra = await renderFace(a, 64);
  const rb = await renderFace(b, 64);
  assert.equal(sha(ra.rgb), sha(rb.rgb));
  assert.equal(sha(ra.png), sha(rb.png));
  const c = await generateFace(8);
  assert.notEqual(sha((await renderFace(c, 64)).rgb), sha(ra.rgb));
});

test("a fresh process renders the same bytes (no hidden state, no use of the global Math.random)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "faces-"));
  try {
    const script = path.join(dir, "child.ts");
    fs.writeFileSync(
      script,
      `import { generateFace, renderFace } from ${JSON.stringify(path.join(__dirname, "faces"))};\n` +
        `import crypto from "crypto";\n` +
        `generateFace(7).then((f) => renderFace(f, 64)).then((r) => process.stdout.write(crypto.createHash("sha256").update(r.png).digest("hex")));\n`,
    );
    const out = spawnSync(process.execPath, ["--import", "tsx", script], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    const here = await renderFace(await generateFace(7), 64);
    assert.equal(out.stdout, sha(here.png));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("Math.random is restored after generation, also when the wrapped call throws, and is never consulted", async () => {
  const original = Math.random;
  const ref = await generateFace(3);
  Math.random = () => 0.5; // a broken global stream must not change the face
  try {
    const g = await generateFace(3);
    assert.equal(g.svg, ref.svg);
    assert.equal(Math.random(), 0.5);
  } finally {
    Math.random = original;
  }
  assert.throws(() => withRandom(() => 0, () => {
    throw new Error("boom");
  }), /boom/);
  assert.equal(Math.random, original);
});

test("forced attributes are kept, and forcing one attribute leaves the others unchanged (counterfactual pairs)", async () => {
  const lib = await loadFacesjs();
  for (const seed of [11, 12, 13]) {
    const free = generateFaceWith(lib, seed, { jitter: false });
    const on = generateFaceWith(lib, seed, { jitter: false, force: { glasses: "glasses" } });
    const off = generateFaceWith(lib, seed, { jitter: false, force: { glasses: "none" } });
    assert.equal(on.attributes.glasses, "glasses");
    assert.equal(off.attributes.glasses, "none");
    for (const k of CATEGORICAL_ATTRIBUTES) if (k !== "glasses") assert.equal(on.attributes[k], free.attributes[k], k);
    assert.deepEqual({ ...on.config, glasses: null }, { ...off.config, glasses: null });
    // the glasses are visible at 64 px, and only around the eyes (facesjs eyes at y = 310 → row ≈ 35)
    const [a, b] = [await renderFaceRgb(on), await renderFaceRgb(off)];
    let inBand = 0;
    let total = 0;
    for (let p = 0; p < 64 * 64; p++) {
      const d = Math.abs(a[3 * p] - b[3 * p]) + Math.abs(a[3 * p + 1] - b[3 * p + 1]) + Math.abs(a[3 * p + 2] - b[3 * p + 2]);
      if (d > 30) {
        total++;
        const row = Math.floor(p / 64);
        if (row >= 26 && row <= 44) inBand++;
      }
    }
    assert.ok(total > 60, `glasses change only ${total} pixels`);
    assert.ok(inBand / total > 0.9, `${inBand}/${total} changed pixels in the eye band`);
  }
});

test("impossible or unknown forced attributes are errors that say why", async () => {
  await assert.rejects(generateFace(1, { force: { gender: "female", facialHair: "beard" } }), /needs gender "male"/);
  await assert.rejects(generateFace(1, { force: { hairStyle: "curly", headwear: "cap" } }), /cannot be seen under a cap/);
  await assert.rejects(generateFace(1, { force: { eyes: "closed" as never } }), /force.eyes: "closed" is not one of: round, almond, narrow/);
  await assert.rejects(generateFace(1, { force: { hat: "x" } as never }), /unknown attribute "hat"/);
  await assert.rejects(generateFace(1.5), /seed must be a safe integer/);
  await assert.rejects(generateFace(1, { size: 3 }), /image size must be an integer/);
  // a forced cap with no forced hair style picks a hair style that shows under it
  for (let s = 0; s < 30; s++) assert.ok(["bald", "short", "long"].includes((await generateFace(s, { force: { headwear: "cap" } })).attributes.hairStyle));
});

/** The class prior documented on `sampleAttributes`. */
function prior(k: keyof typeof ATTRIBUTE_CLASSES): number[] {
  const n = ATTRIBUTE_CLASSES[k].length;
  switch (k) {
    case "facialHair": return [0.4, 0.2, 0.2, 0.2];
    case "gender": return [1 - 0.4 * (2 / 3), 0.4 * (2 / 3)];
    case "headwear": return [0.64, 0.12, 0.12, 0.12];
    case "glasses": return [0.5, 0.25, 0.25];
    default: return Array(n).fill(1 / n);
  }
}

test("class frequencies over 2000 faces match the documented prior within 4 standard errors", async () => {
  const lib = await loadFacesjs();
  const n = 2000;
  const faces = Array.from({ length: n }, (_, i) => generateFaceWith(lib, 100000 + i));
  for (const k of CATEGORICAL_ATTRIBUTES) {
    const p = prior(k);
    ATTRIBUTE_CLASSES[k].forEach((cls, j) => {
      const f = faces.filter((x) => x.attributes[k] === cls).length / n;
      const se = Math.sqrt((p[j] * (1 - p[j])) / n);
      assert.ok(Math.abs(f - p[j]) < 4 * se, `${k}=${cls}: frequency ${f.toFixed(3)}, prior ${p[j].toFixed(3)}`);
    });
  }
  // dependencies hold: facial hair only on male faces, no hat over curly/spiky hair
  for (const { attributes: a } of faces) {
    if (a.facialHair !== "none") assert.equal(a.gender, "male");
    if (a.hairStyle === "curly" || a.hairStyle === "spiky") assert.equal(a.headwear, "none");
  }
});

/** Every phrase of a caption must be true of the face. */
function checkCaption(caption: string, a: FaceAttributes) {
  assert.ok(caption.startsWith("a photo of person"), caption);
  const rest = caption.slice("a photo of person".length);
  if (!rest) return;
  assert.ok(rest.startsWith(" with "), caption);
  const items = rest.slice(6).split(", ");
  if (["cap", "santa hat"].includes(a.headwear) && a.hairStyle !== "long") assert.ok(!items.some((i) => i.endsWith(" hair") || i === "bald head"), caption);
  for (const item of items) {
    const ok =
      (item === "bald head" && a.hairStyle === "bald") ||
      item === `${a.hairStyle} ${a.hairColor} hair` ||
      (item === "without mustache" && a.facialHair === "none") ||
      item === a.facialHair ||
      item === a.glasses ||
      item === `a ${a.headwear}` ||
      item === `${a.skinTone} skin` ||
      item === `${a.eyes} eyes` ||
      item === `${a.eyebrows} eyebrows` ||
      item === (a.mouth === "neutral" ? "neutral expression" : a.mouth) ||
      item === `${a.brightness === "medium" ? "" : a.brightness + " "}${a.background} background` ||
      item === `${a.brightness} background` ||
      item === `${a.background} background`;
    assert.ok(ok, `"${item}" is not true of ${JSON.stringify(a)}`);
  }
}

test("captions only say true things, and mention the salient attributes most of the time", async () => {
  const lib = await loadFacesjs();
  const n = 1000;
  let hair = 0, hairHidden = 0, glasses = 0, withGlasses = 0, bg = 0;
  for (let i = 0; i < n; i++) {
    const f = generateFaceWith(lib, 500000 + i);
    checkCaption(f.caption, f.attributes);
    const a = f.attributes;
    if (["cap", "santa hat"].includes(a.headwear) && a.hairStyle !== "long") hairHidden++;
    else if (f.caption.includes(a.hairStyle === "bald" ? "bald head" : `${a.hairStyle} ${a.hairColor} hair`)) hair++;
    if (a.glasses !== "none") {
      withGlasses++;
      if (f.caption.includes(a.glasses)) glasses++;
    }
    if (f.caption.includes("background")) bg++;
  }
  // documented rates: hair 0.9, glasses 0.9, background 0.9; 4 standard errors
  const near = (k: number, m: number, p: number) => Math.abs(k / m - p) < 4 * Math.sqrt((p * (1 - p)) / m);
  assert.ok(near(hair, n - hairHidden, 0.9), `hair in ${hair}/${n - hairHidden}`);
  assert.ok(near(glasses, withGlasses, 0.9), `glasses in ${glasses}/${withGlasses}`);
  assert.ok(near(bg, n, 0.9), `background in ${bg}/${n}`);
  assert.equal((await generateFace(1, { subject: "sks person" })).caption.startsWith("a photo of sks person"), true);
});

test("renders are size×size RGB, the PNG holds the same pixels, and the corner shows the background colour", async () => {
  for (const seed of [21, 22, 23, 24]) {
    const face = await generateFace(seed, { jitter: false });
    for (const size of [32, 64]) {
      const { rgb, png } = await renderFace(face, size);
      assert.equal(rgb.length, size * size * 3);
      const back = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([back.info.width, back.info.height, back.info.channels], [size, size, 3]);
      assert.equal(sha(back.data), sha(rgb));
      const [r, g, b] = face.attributes.backgroundRgb;
      assert.ok(Math.abs(rgb[0] - r) <= 1 && Math.abs(rgb[1] - g) <= 1 && Math.abs(rgb[2] - b) <= 1, `seed ${seed}: corner ${rgb.slice(0, 3)} vs ${face.attributes.backgroundRgb}`);
    }
  }
});
