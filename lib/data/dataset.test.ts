import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { generateFace, renderFaceRgb } from "./faces";
import { loadImageFolder, toSigned } from "./images";
import { MAX_SPLIT_SIZE, packedBatch, readMetadata, readPackedDataset, splitSeed, SPLITS, writeDataset, writePackedDataset } from "./dataset";
import { SUBJECT_SEED } from "./subject";

const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), "dataset-"));

test("split seeds follow (seed·3 + split)·2^24 + index and never collide across splits, dataset seeds or the subject", () => {
  assert.equal(splitSeed(0, "train", 0), 0);
  assert.equal(splitSeed(0, "val", 5), 2 ** 24 + 5);
  assert.equal(splitSeed(2, "test", 7), (2 * 3 + 2) * 2 ** 24 + 7);
  const seen = new Set<number>();
  for (const ds of [0, 1, 2]) for (const s of SPLITS) for (const i of [0, 1, MAX_SPLIT_SIZE - 1]) seen.add(splitSeed(ds, s, i));
  assert.equal(seen.size, 3 * 3 * 3);
  assert.ok(!seen.has(SUBJECT_SEED) && SUBJECT_SEED < 0);
  assert.throws(() => splitSeed(0, "train", MAX_SPLIT_SIZE), /index must be an integer in \[0, 2\^24\)/);
  assert.throws(() => splitSeed(0, "holdout" as never, 0), /unknown split "holdout"; known: train, val, test/);
  assert.throws(() => splitSeed(-1, "train", 0), /dataset seed must be/);
});

test("writeDataset writes numbered PNGs and metadata.jsonl that match generateFace, and a rerun replaces them", async () => {
  const dir = tmpdir();
  try {
    let progress = 0;
    const r = await writeDataset(dir, { count: 3, split: "val", size: 32, seed: 1, onProgress: (d) => (progress = d) });
    assert.equal(r.count, 3);
    assert.equal(progress, 3);
    const meta = readMetadata(dir);
    assert.deepEqual(meta.map((m) => m.file), ["000000.png", "000001.png", "000002.png"]);
    const face = await generateFace(splitSeed(1, "val", 2));
    assert.equal(meta[2].seed, face.seed);
    assert.equal(meta[2].caption, face.caption);
    assert.deepEqual(meta[2].attributes, face.attributes);
    const imgs = await loadImageFolder(dir, 32);
    assert.deepEqual(imgs.skipped.map((s) => path.basename(s)), ["metadata.jsonl"]);
    const expected = toSigned(await renderFaceRgb(face, 32));
    assert.deepEqual(imgs.data.subarray(2 * 32 * 32 * 3), expected);
    // a smaller rerun leaves no stale images behind; unrelated files stay
    fs.writeFileSync(path.join(dir, "notes.txt"), "keep");
    await writeDataset(dir, { count: 1, split: "val", size: 32, seed: 1 });
    assert.deepEqual(fs.readdirSync(dir).sort(), ["000000.png", "metadata.jsonl", "notes.txt"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the packed file round-trips the rendered pixels and records, and is byte-identical for the same seed", async () => {
  const dir = tmpdir();
  try {
    const a = path.join(dir, "a.pack");
    const b = path.join(dir, "b.pack");
    const w = await writePackedDataset(a, { count: 4, split: "test", size: 32, seed: 3 });
    await writePackedDataset(b, { count: 4, split: "test", size: 32, seed: 3 });
    assert.equal(w.bytes, fs.statSync(a).size);
    assert.equal(sha(fs.readFileSync(a)), sha(fs.readFileSync(b)));
    const pack = readPackedDataset(a);
    assert.deepEqual([pack.count, pack.size, pack.channels], [4, 32, 3]);
    const face = await generateFace(splitSeed(3, "test", 1));
    assert.equal(pack.records[1].caption, face.caption);
    assert.deepEqual(pack.pixels.subarray(32 * 32 * 3, 2 * 32 * 32 * 3), await renderFaceRgb(face, 32));
    const batch = packedBatch(pack, [1, 1, 0]);
    assert.deepEqual(batch.shape, [3, 32, 32, 3]);
    assert.deepEqual(batch.data.subarray(0, 32 * 32 * 3), toSigned(await renderFaceRgb(face, 32)));
    assert.throws(() => packedBatch(pack, [4]), /index 4 is outside \[0, 4\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a damaged packed file is an error naming the file and the fix", async () => {
  const dir = tmpdir();
  try {
    const good = path.join(dir, "good.pack");
    await writePackedDataset(good, { count: 2, split: "train", size: 16 });
    const bytes = fs.readFileSync(good);
    const bad = (name: string, data: Buffer) => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, data);
      return p;
    };
    const fix = /fix: regenerate it with `dreambooth data --format packed`/;
    const truncated = bad("truncated.pack", bytes.subarray(0, bytes.length - 10));
    assert.throws(() => readPackedDataset(truncated), (e: Error) => e.message.includes(truncated) && /truncated or appended/.test(e.message) && fix.test(e.message));
    assert.throws(() => readPackedDataset(bad("png.pack", Buffer.from("\x89PNG\r\n\x1a\n0000000000000000000000000000"))), /is not a packed face dataset/);
    const v2 = Buffer.from(bytes);
    v2.writeUInt32LE(2, 8);
    assert.throws(() => readPackedDataset(bad("v2.pack", v2)), /packed format version 2, this code reads 1/);
    // claim 3 images but keep the bytes of 2 plus one extra image's worth: caption count no longer matches
    const three = Buffer.concat([bytes.subarray(0, 32 + 2 * 16 * 16 * 3), Buffer.alloc(16 * 16 * 3), bytes.subarray(32 + 2 * 16 * 16 * 3)]);
    three.writeUInt32LE(3, 12);
    assert.throws(() => readPackedDataset(bad("three.pack", three)), /has 2 captions for 3 images/);
    assert.throws(() => readPackedDataset(path.join(dir, "missing.pack")), /cannot read packed dataset .*missing\.pack \(ENOENT\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("readMetadata names the file and line of a bad record, and a missing metadata.jsonl", () => {
  const dir = tmpdir();
  try {
    assert.throws(() => readMetadata(dir), /metadata\.jsonl does not exist; fix: write the dataset with `dreambooth data`/);
    fs.writeFileSync(path.join(dir, "metadata.jsonl"), '{"seed":1,"caption":"a","attributes":{}}\n{oops\n');
    assert.throws(() => readMetadata(dir), /metadata\.jsonl line 2 is not JSON/);
    fs.writeFileSync(path.join(dir, "metadata.jsonl"), '{"seed":1,"attributes":{}}\n');
    assert.throws(() => readMetadata(dir), /line 1 lacks seed, caption or attributes/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
