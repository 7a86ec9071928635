import { test } from "node:test";
import assert from "node:assert/strict";
import { cosine, identityAgreement, imageLuminance, promptFidelity } from "./metrics";

test("luminance: Rec. 601 luma of flat images, pixel range of a two-tone image", () => {
  // [-1, 1] → [0, 1]: (1, 0, -1) is (1, 0.5, 0): Y' = 0.299 + 0.587 · 0.5 = 0.5925 (ITU-R BT.601)
  const n = 2,
    side = 4,
    per = side * side * 3;
  const data = new Float32Array(n * per);
  for (let p = 0; p < side * side; p++) data.set([1, 0, -1], 3 * p);
  // image 2: left half black, right half white: mean 0.5, 5th–95th percentile range 1
  for (let p = 0; p < side * side; p++) data.set(p % side < side / 2 ? [-1, -1, -1] : [1, 1, 1], per + 3 * p);
  const l = imageLuminance({ data, shape: [n, side, side, 3] });
  assert.ok(Math.abs(l.meanLuma[0] - 0.5925) < 1e-6);
  assert.ok(Math.abs(l.pixelRange[0]) < 1e-9);
  assert.ok(Math.abs(l.meanLuma[1] - 0.5) < 1e-6);
  assert.ok(Math.abs(l.pixelRange[1] - 1) < 1e-6);
});

test("agreement, prompt fidelity and cosine by hand", () => {
  const subject = {
    gender: "male",
    skinTone: "light",
    hairStyle: "curly",
    hairColor: "red",
    facialHair: "beard",
    glasses: "glasses",
    headwear: "none",
    eyes: "round",
    eyebrows: "thick",
  };
  assert.equal(identityAgreement({ ...subject }, subject), 1);
  assert.equal(identityAgreement({ ...subject, eyes: "narrow", glasses: "none", mouth: "smiling" }, subject), 7 / 9);
  assert.throws(
    () => identityAgreement(subject, { ...subject, eyes: undefined as unknown as string }),
    /subject attributes lack "eyes"/,
  );
  assert.equal(promptFidelity({ glasses: "goggles", headwear: "cap" }, { glasses: "goggles", headwear: "none" }), 0.5);
  assert.equal(promptFidelity({ glasses: "goggles" }, {}), undefined);
  assert.ok(Math.abs(cosine(Float32Array.from([1, 0]), Float32Array.from([1, 1])) - Math.SQRT1_2) < 1e-7);
});
