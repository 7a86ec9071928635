/**
 * scoreSamples on a samples folder made of the subject's own instance photos: each image gets one record
 * with the scores the measures need, an instance photo is close to the subject, only the class prompt's
 * images carry embeddings, the same folder scores to the same bytes twice, and no tensor leaks.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { writeInstanceImages } from "../data/subject";
import { scoreSamples } from "./scores";
import { MEASURES, measureValue } from "./measures";

const root = path.resolve(__dirname, "..", "..");
let dir: string;

before(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "scores-"));
  await writeInstanceImages(path.join(dir, "subject"), 64);
  const prompts = [
    { id: "instance", prompt: "a photo of sks person", role: "identity" },
    { id: "cap", prompt: "a photo of sks person with a cap", role: "attribute" },
    { id: "class", prompt: "a photo of person", role: "class" },
  ];
  const samples = path.join(dir, "samples");
  for (const p of prompts) {
    fs.mkdirSync(path.join(samples, p.id), { recursive: true });
    for (let k = 0; k < 2; k++) {
      fs.copyFileSync(
        path.join(dir, "subject", `instance-${k}.png`),
        path.join(samples, p.id, `seed-${String(k).padStart(3, "0")}.png`),
      );
    }
  }
  fs.writeFileSync(path.join(samples, "prompts.json"), JSON.stringify({ prompts }));
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test("scoreSamples: one record per image, the subject scores as itself, deterministic, no leaks", async () => {
  const evaluator = path.join(root, "models", "evaluator");
  const before = tf.memory().numTensors;
  const a = await scoreSamples(path.join(dir, "samples"), path.join(dir, "subject"), evaluator);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  assert.equal(a.images.length, 6);
  assert.deepEqual(a.roles, { instance: "identity", cap: "attribute", class: "class" });
  for (const i of a.images) {
    assert.ok(i.identity > 0.5, `an instance photo is near the subject's embedding (${i.identity})`);
    assert.ok(i.agreement >= 0.75, `and shares its identity attributes (${i.agreement})`);
    assert.ok(i.sharpness > 0.5 && i.sharpness < 2, `as crisp as the instance photos (${i.sharpness})`);
    assert.ok(i.meanLuma > 0 && i.meanLuma < 1 && i.darkShare >= 0 && i.darkShare <= 1);
    assert.equal(i.embedding !== undefined, i.prompt === "class");
    assert.equal(i.promptFidelity !== undefined, i.prompt === "cap");
  }
  // the instance photos wear no cap
  assert.ok(a.images.filter((i) => i.prompt === "cap").every((i) => i.promptFidelity === 0));
  for (const m of MEASURES) assert.ok(Number.isFinite(measureValue(m, a)), m.id);
  const b = await scoreSamples(path.join(dir, "samples"), path.join(dir, "subject"), evaluator);
  assert.equal(JSON.stringify(b), JSON.stringify(a));
  await assert.rejects(
    scoreSamples(path.join(dir, "subject"), path.join(dir, "subject"), evaluator),
    /prompts\.json is missing/,
  );
});
