import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "crypto";
import fs from "fs";
import os from "os";
import path from "path";
import { IDENTITY_ATTRIBUTES } from "./attributes";
import { renderFaceRgb } from "./faces";
import { loadImageFolder } from "./images";
import { CLASS_PROMPT, INSTANCE_PROMPT, INSTANCE_VARIATIONS, subjectAttributes, subjectFace, SUBJECT_LOOK, SUBJECT_SEED, writeInstanceImages } from "./subject";

const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

test("the 5 instance images keep the identity and vary background, framing and expression only", async () => {
  assert.equal(INSTANCE_VARIATIONS.length, 5);
  const faces = await Promise.all([0, 1, 2, 3, 4].map((i) => subjectFace(i)));
  const id = subjectAttributes();
  for (const f of faces) {
    assert.equal(f.caption, "a photo of sks person");
    for (const k of IDENTITY_ATTRIBUTES) assert.equal(f.attributes[k], id[k], k);
    // identity features drawn identically: everything but mouth and eyebrow angle
    assert.deepEqual({ ...f.config, mouth: null, eyebrow: { ...f.config.eyebrow, angle: 0 } }, { ...faces[0].config, mouth: null, eyebrow: { ...faces[0].config.eyebrow, angle: 0 } });
  }
  assert.deepEqual(new Set(faces.map((f) => f.attributes.brightness)).size, 5);
  assert.equal(new Set(faces.map((f) => f.config.mouth.id)).size >= 3, true);
  const hashes = await Promise.all(faces.map(async (f) => sha(await renderFaceRgb(f))));
  assert.equal(new Set(hashes).size, 5);
  assert.equal(id.hairColor, SUBJECT_LOOK.hairColor);
  await assert.rejects(subjectFace(5), /subject instance index must be 0–4/);
});

test("writeInstanceImages writes 5 PNGs and metadata.json with the prompts and attributes, deterministically", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "instance-"));
  try {
    const meta = await writeInstanceImages(dir, 64);
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, "metadata.json"), "utf8"));
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(meta)));
    assert.equal(onDisk.prompt, INSTANCE_PROMPT);
    assert.equal(onDisk.classPrompt, CLASS_PROMPT);
    assert.equal(onDisk.classPrompt, "a photo of person");
    assert.equal(onDisk.subjectSeed, SUBJECT_SEED);
    assert.deepEqual(onDisk.attributes, subjectAttributes());
    const imgs = await loadImageFolder(dir, 64);
    assert.deepEqual(imgs.files.map((f) => path.basename(f)), onDisk.images.map((i: { file: string }) => i.file));
    const first = fs.readFileSync(path.join(dir, "instance-0.png"));
    await writeInstanceImages(dir, 64);
    assert.equal(sha(fs.readFileSync(path.join(dir, "instance-0.png"))), sha(first));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
