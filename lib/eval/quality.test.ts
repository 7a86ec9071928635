import { test } from "node:test";
import assert from "node:assert/strict";
import { DARK_LUMA, imageQuality, relativeSharpness, toneVariety } from "./quality";

/** A 16×16 RGB image in [−1, 1] from a luma-like function of (row, column), grey. */
function image(f: (r: number, c: number) => number, size = 16): Float32Array {
  const out = new Float32Array(size * size * 3);
  for (let r = 0; r < size; r++)
    for (let c = 0; c < size; c++) out.fill(f(r, c) * 2 - 1, 3 * (r * size + c), 3 * (r * size + c) + 3);
  return out;
}
/** A 3×3 box blur of a grey image (edges clamped). */
function blur(img: Float32Array, size = 16): Float32Array {
  const out = new Float32Array(img.length);
  const at = (r: number, c: number) =>
    img[3 * (Math.min(size - 1, Math.max(0, r)) * size + Math.min(size - 1, Math.max(0, c)))];
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      let s = 0;
      for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) s += at(r + dr, c + dc);
      out.fill(s / 9, 3 * (r * size + c), 3 * (r * size + c) + 3);
    }
  }
  return out;
}
const one = (img: Float32Array) => imageQuality(img, [1, 16, 16, 3])[0];

test("sharpness: a checkerboard's Laplacian variance is known; a blurred copy scores lower, a flat image 0", () => {
  // luma alternating 0/1: the interior Laplacian is ±4 (4 neighbours of the other colour), mean 0, variance 16
  const board = image((r, c) => (r + c) % 2);
  assert.ok(Math.abs(one(board).laplacianVariance - 16) < 1e-9);
  assert.ok(Math.abs(one(image(() => 0.5)).laplacianVariance) < 1e-12);
  const edges = image((r, c) => (c < 8 ? 0.2 : 0.8) + (r % 4 === 0 ? 0.1 : 0));
  const a = one(edges).laplacianVariance;
  const b = one(blur(edges)).laplacianVariance;
  const bb = one(blur(blur(edges))).laplacianVariance;
  assert.ok(b < a && bb < b, `blurring lowers sharpness: ${a} > ${b} > ${bb}`);
  assert.equal(relativeSharpness(one(edges), a), 1);
  assert.throws(() => relativeSharpness(one(edges), 0), /no detail/);
});

test("darkness: mean luma and the share of dark pixels follow a darker copy", () => {
  const img = image((r, c) => ((r * 16 + c) / 255) * 0.9 + 0.05);
  const darker = image((r, c) => (((r * 16 + c) / 255) * 0.9 + 0.05) * 0.5);
  const q = one(img);
  const d = one(darker);
  assert.ok(d.meanLuma < q.meanLuma && d.darkShare > q.darkShare, `${JSON.stringify(d)} vs ${JSON.stringify(q)}`);
  // a half-black, half-white image: mean luma ½, half its pixels dark
  const half = one(image((r) => (r < 8 ? 0 : 1)));
  assert.ok(Math.abs(half.meanLuma - 0.5) < 1e-6);
  assert.equal(half.darkShare, 0.5);
  assert.equal(one(image(() => DARK_LUMA + 1e-3)).darkShare, 0);
});

test("tone variety: the standard deviation of mean luma across a prompt's samples", () => {
  assert.equal(toneVariety([0.5]), 0);
  assert.ok(toneVariety([0.4, 0.4, 0.4]) < 1e-15);
  // sample standard deviation of 0.2 and 0.6: √(2 · 0.04 / 1)
  assert.ok(Math.abs(toneVariety([0.2, 0.6]) - Math.sqrt(0.08)) < 1e-12);
  assert.ok(toneVariety([0.1, 0.5, 0.9]) > toneVariety([0.4, 0.5, 0.6]));
});

test("bad shapes are errors naming the problem", () => {
  assert.throws(() => imageQuality(new Float32Array(16 * 16), [1, 16, 16, 1]), /must be RGB/);
  assert.throws(() => imageQuality(new Float32Array(2 * 2 * 3), [1, 2, 2, 3]), /at least 3×3/);
  assert.throws(() => imageQuality(new Float32Array(5), [1, 16, 16, 3]), /5 values/);
});
