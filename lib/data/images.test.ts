import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import sharp from "sharp";
import { ImageError, loadImageFolder, readImageRgb, toSigned, toUint8 } from "./images";

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "images-"));
}
/** A solid-colour image, or a horizontal stripe pattern of colours (equal widths). */
function solid(w: number, h: number, rgb: [number, number, number]): sharp.Sharp {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
}
async function stripes(w: number, h: number, colours: [number, number, number][]): Promise<Buffer> {
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(colours[Math.floor((x * colours.length) / w)], (y * w + x) * 3);
  return sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

test("toSigned maps 0 → -1, 255 → 1, and toUint8 inverts it", () => {
  const x = toSigned(new Uint8Array([0, 51, 255]));
  assert.deepEqual(Array.from(x), [-1, Math.fround(51 / 127.5 - 1), 1]);
  assert.deepEqual(Array.from(toUint8(x)), [0, 51, 255]);
  assert.deepEqual(Array.from(toUint8([-3, 3])), [0, 255]);
});

test("a folder of correct PNG and JPEG images loads as NHWC in [-1, 1], sorted by name; sidecar files are skipped", async () => {
  const dir = tmpdir();
  try {
    await solid(16, 16, [255, 0, 0]).png().toFile(path.join(dir, "b.png"));
    await solid(16, 16, [0, 0, 255]).jpeg({ quality: 100 }).toFile(path.join(dir, "a.jpg"));
    fs.writeFileSync(path.join(dir, "metadata.json"), "{}");
    fs.writeFileSync(path.join(dir, ".hidden"), "x");
    fs.mkdirSync(path.join(dir, "sub"));
    const f = await loadImageFolder(dir, 16);
    assert.deepEqual(f.shape, [2, 16, 16, 3]);
    assert.deepEqual(f.files.map((p) => path.basename(p)), ["a.jpg", "b.png"]);
    assert.deepEqual(f.skipped.map((p) => path.basename(p)).sort(), ["metadata.json", "sub"]);
    // b.png is pure red: (1, -1, -1) at every pixel
    const per = 16 * 16 * 3;
    for (let i = 0; i < per; i += 3) assert.deepEqual([f.data[per + i], f.data[per + i + 1], f.data[per + i + 2]], [1, -1, -1]);
    // a.jpg is blue within JPEG error
    assert.ok(f.data[2] > 0.95 && f.data[0] < -0.9);
    for (const v of f.data) assert.ok(v >= -1 && v <= 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("strict mode: a wrong-size or non-square image is an error naming the file, its size and the fix", async () => {
  const dir = tmpdir();
  try {
    const big = path.join(dir, "big.png");
    const wide = path.join(dir, "wide.png");
    await solid(32, 32, [9, 9, 9]).png().toFile(big);
    await solid(40, 16, [9, 9, 9]).png().toFile(wide);
    await assert.rejects(readImageRgb(big, 16), (e: Error) => e instanceof ImageError && e.message.includes(big) && /32×32, expected 16×16/.test(e.message) && /--resize/.test(e.message));
    await assert.rejects(readImageRgb(wide, 16), (e: Error) => e.message.includes(wide) && /40×16, not square/.test(e.message));
    // the folder reports every bad file at once
    await assert.rejects(loadImageFolder(dir, 16), (e: Error) => /2 bad file\(s\)/.test(e.message) && e.message.includes(big) && e.message.includes(wide));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("resize mode center-crops to a square, then resizes", async () => {
  const dir = tmpdir();
  try {
    // 128×32: four 32-px stripes red | blue | blue | green → the centre square (x 48..80) is all blue
    const f = path.join(dir, "wide.png");
    fs.writeFileSync(f, await stripes(128, 32, [[255, 0, 0], [0, 0, 255], [0, 0, 255], [0, 255, 0]]));
    const rgb = await readImageRgb(f, 16, { resize: true });
    assert.equal(rgb.length, 16 * 16 * 3);
    for (let p = 0; p < 256; p++) assert.deepEqual([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]], [0, 0, 255], `pixel ${p}`);
    // a square image of another size is resized: 64×64 solid grey stays that grey at 16×16
    const g = path.join(dir, "grey.png");
    await solid(64, 64, [100, 100, 100]).png().toFile(g);
    assert.deepEqual(new Set(await readImageRgb(g, 16, { resize: true })), new Set([100]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("unreadable files, non-images, empty files and unsupported formats are errors naming the file and the fix", async () => {
  const dir = tmpdir();
  try {
    const fake = path.join(dir, "fake.png");
    fs.writeFileSync(fake, "this is not a png");
    await assert.rejects(readImageRgb(fake, 16), (e: Error) => e instanceof ImageError && e.message.includes(fake) && /not a readable image/.test(e.message) && /fix:/.test(e.message));
    const empty = path.join(dir, "empty.jpg");
    fs.writeFileSync(empty, "");
    await assert.rejects(readImageRgb(empty, 16), /empty\.jpg is empty \(0 bytes\); fix:/);
    const dangling = path.join(dir, "gone.png");
    fs.symlinkSync(path.join(dir, "nowhere.png"), dangling);
    await assert.rejects(readImageRgb(dangling, 16), /cannot read .*gone\.png \(ENOENT\); fix:/);
    const folderNamedPng = path.join(dir, "folder.png");
    fs.mkdirSync(folderNamedPng);
    await assert.rejects(readImageRgb(folderNamedPng, 16), /cannot read .*folder\.png \(EISDIR\)/);
    const gif = path.join(dir, "anim.gif");
    await solid(16, 16, [0, 0, 0]).gif().toFile(gif);
    // a GIF renamed to .png is caught by its content, not its name
    const gifAsPng = path.join(dir, "really-gif.png");
    fs.copyFileSync(gif, gifAsPng);
    await assert.rejects(readImageRgb(gifAsPng, 16), /really-gif\.png is gif, not PNG, JPEG or WebP; fix: convert it to PNG/);
    await assert.rejects(loadImageFolder(dir, 16), (e: Error) => {
      for (const f of [fake, empty, dangling, folderNamedPng, gif, gifAsPng]) assert.ok(e.message.includes(f), `${f} not named in: ${e.message}`);
      return /6 bad file\(s\)/.test(e.message) && /anim\.gif is a GIF file; fix: convert it to PNG/.test(e.message);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("grey and transparent images become RGB: grey is replicated, alpha is flattened onto white", async () => {
  const dir = tmpdir();
  try {
    const grey = path.join(dir, "grey.png");
    await sharp(Buffer.alloc(16 * 16, 80), { raw: { width: 16, height: 16, channels: 1 } }).png().toFile(grey);
    assert.deepEqual(new Set(await readImageRgb(grey, 16)), new Set([80]));
    const clear = path.join(dir, "clear.png");
    await sharp({ create: { width: 16, height: 16, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toFile(clear);
    assert.deepEqual(new Set(await readImageRgb(clear, 16)), new Set([255]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing folder, a file given as folder, an empty folder, and a bad size are clear errors", async () => {
  const dir = tmpdir();
  try {
    await assert.rejects(loadImageFolder(path.join(dir, "nope"), 16), /image folder .*nope does not exist; fix:/);
    const file = path.join(dir, "x.txt");
    fs.writeFileSync(file, "x");
    await assert.rejects(loadImageFolder(file, 16), /x\.txt is not a folder/);
    await assert.rejects(loadImageFolder(dir, 16), /has no PNG, JPEG or WebP images \(only: x\.txt\); fix: put the images in it/);
    await assert.rejects(loadImageFolder(dir, 0), /image size must be an integer/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
