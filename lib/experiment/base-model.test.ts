/**
 * The base-model evaluation on the embedded model, on 6 fresh test-split faces: the per-attribute tally
 * adds up (hits + misses = asked, every miss names what the sample showed instead), the report is
 * deterministic for a seed, and nothing leaks.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { writePackedDataset, readPackedDataset } from "../data/dataset";
import { parsePromptAttributes } from "../eval/prompt";
import { evaluateBaseModel } from "./base-model";

const root = path.resolve(__dirname, "../..");
let tmp: string;
let pack: string;

before(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "base-eval-test-"));
  pack = path.join(tmp, "test.pack");
  await writePackedDataset(pack, { count: 6, split: "test", size: 64, seed: 2 });
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("evaluateBaseModel: tallies add up, misses name what was seen, same bytes twice, no leaks", async () => {
  const opts = {
    model: path.join(root, "models/tiny-sd"),
    testPack: pack,
    evaluatorDir: path.join(root, "models/evaluator"),
    count: 6,
    classCount: 2,
    steps: 2,
    guidance: 5,
    seed: 0,
    workers: 0,
  };
  const before = tf.memory().numTensors;
  const r = await evaluateBaseModel(opts);
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  // what the captions ask for, counted independently of the code under test
  const asked: Record<string, number> = {};
  let prompts = 0;
  for (const rec of readPackedDataset(pack).records) {
    const a = parsePromptAttributes(rec.caption);
    if (Object.keys(a).length) prompts++;
    for (const k of Object.keys(a)) asked[k] = (asked[k] ?? 0) + 1;
  }
  assert.ok(prompts > 0, "the test faces' captions ask for nothing");
  assert.equal(r.prompts, prompts);
  assert.deepEqual(Object.fromEntries(Object.entries(r.byAttribute).map(([k, v]) => [k, v.asked])), asked);
  for (const [k, v] of Object.entries(r.byAttribute)) {
    const missed = Object.values(v.misses).reduce((s, n) => s + n, 0);
    assert.equal(v.samples + missed, v.asked, `${k}: ${v.samples} hits + ${missed} misses ≠ ${v.asked} asked`);
    for (const key of Object.keys(v.misses)) {
      const [want, seen] = key.split(" → ");
      assert.ok(want && seen && want !== seen, `${k}: miss "${key}" must be "asked → seen" with two different values`);
    }
    for (const n of [v.samples, v.renders, v.reconstructions]) assert.ok(n >= 0 && n <= v.asked);
  }
  assert.ok(r.promptFollowing.mean >= 0 && r.promptFollowing.mean <= 1);
  assert.ok(r.classDiversity !== null);
  const again = await evaluateBaseModel(opts);
  assert.equal(JSON.stringify(again), JSON.stringify(r), "same seed, different report");
});
