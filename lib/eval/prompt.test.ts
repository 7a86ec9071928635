import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePromptAttributes } from "./prompt";
import { generateFaceWith, loadFacesjs } from "../data/faces";

test("parses the caption grammar", () => {
  assert.deepEqual(
    parsePromptAttributes("a photo of person with short black hair, mustache, glasses, dark blue background"),
    {
      hairStyle: "short",
      hairColor: "black",
      facialHair: "mustache",
      glasses: "glasses",
      brightness: "dark",
      background: "blue",
    },
  );
  assert.deepEqual(
    parsePromptAttributes(
      "a photo of sks person with bald head, without mustache, a santa hat, very bright background",
    ),
    {
      hairStyle: "bald",
      facialHair: "none",
      headwear: "santa hat",
      brightness: "very bright",
    },
  );
  assert.deepEqual(
    parsePromptAttributes(
      "a photo of person with curly red hair, goggles, dark skin, narrow eyes, thin eyebrows, frowning, gray background",
    ),
    {
      hairStyle: "curly",
      hairColor: "red",
      glasses: "goggles",
      skinTone: "dark",
      eyes: "narrow",
      eyebrows: "thin",
      mouth: "frowning",
      background: "gray",
    },
  );
  assert.deepEqual(
    parsePromptAttributes("a photo of person with neutral expression, a cap, very dark red background"),
    {
      mouth: "neutral",
      headwear: "cap",
      brightness: "very dark",
      background: "red",
    },
  );
  // the paper's edit prompt, free form
  assert.deepEqual(parsePromptAttributes("a photo of sks person without mustache"), { facialHair: "none" });
  assert.deepEqual(parsePromptAttributes("a photo of sks person"), {});
});

test("an attribute asked twice with different values is an error naming the prompt", () => {
  assert.throws(
    () => parsePromptAttributes("a photo of person with beard, goatee"),
    /"a photo of person with beard, goatee" asks for facialHair "beard" and "goatee"/,
  );
});

test("inverts the caption builder: every parsed attribute matches the face's record (400 faces)", async () => {
  const lib = await loadFacesjs();
  let parsed = 0;
  for (let seed = 0; seed < 400; seed++) {
    const face = generateFaceWith(lib, seed, { size: 16 });
    const got = parsePromptAttributes(face.caption);
    for (const [k, v] of Object.entries(got))
      assert.equal(v, face.attributes[k as keyof typeof face.attributes], `seed ${seed} "${face.caption}": ${k}`);
    // every "… background" phrase of the caption is read (captionOf writes one with probability 0.9)
    if (face.caption.includes("background"))
      assert.ok(got.background !== undefined || got.brightness !== undefined, `seed ${seed}: "${face.caption}"`);
    if (/ hair\b/.test(face.caption)) assert.ok(got.hairStyle !== undefined, `seed ${seed}: "${face.caption}"`);
    parsed += Object.keys(got).length;
  }
  assert.ok(parsed / 400 > 3, `only ${parsed / 400} attributes per caption parsed`);
});
