import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { initParams, disposeParams } from "../models/init";
import { countParams } from "../models/params";
import { ATTRIBUTE_CLASSES, CATEGORICAL_ATTRIBUTES, FaceAttributes } from "../data/attributes";
import {
  DEFAULT_EVALUATOR_CONFIG,
  EvaluatorConfig,
  evaluatorForward,
  evaluatorSpecs,
  disposeOutput,
  predict,
  spaceToDepth2,
  toEvaluatorSize,
} from "./model";
import { renderLabelledFaces, scoredMask } from "./faces";
import { captionOf } from "../data/faces";
import { rng } from "../random";
import { attributeAccuracy, cosineLr, trainEvaluator, batchSchedule } from "./train";

const tiny: EvaluatorConfig = {
  ...DEFAULT_EVALUATOR_CONFIG,
  imageSize: 64,
  channels: [8, 8, 16, 16],
  featureDim: 16,
  embedDim: 8,
};

before(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
});

test("one head per data attribute, with the data vocabulary; weights small enough to commit", () => {
  assert.deepEqual(
    DEFAULT_EVALUATOR_CONFIG.heads.map((h) => h.attribute),
    CATEGORICAL_ATTRIBUTES,
  );
  for (const h of DEFAULT_EVALUATOR_CONFIG.heads) assert.deepEqual(h.classes, [...ATTRIBUTE_CLASSES[h.attribute]]);
  // float16: 2 bytes per parameter, under 2 MB
  assert.ok(2 * countParams(evaluatorSpecs()) < 2e6, `${countParams(evaluatorSpecs())} parameters`);
  assert.throws(() => evaluatorSpecs({ ...tiny, imageSize: 40 }), /not divisible by 2\^4/);
});

test("spaceToDepth2 stacks each 2×2 patch (row, col, channel)", () => {
  const x = tf.tensor4d(
    Array.from({ length: 16 }, (_, i) => i),
    [1, 4, 4, 1],
  );
  const y = spaceToDepth2(x);
  assert.deepEqual(y.shape, [1, 2, 2, 4]);
  // top-left patch: pixels (0,0) (0,1) (1,0) (1,1) = 0, 1, 4, 5
  assert.deepEqual(Array.from(y.dataSync()).slice(0, 4), [0, 1, 4, 5]);
  tf.dispose([x, y]);
});

test("forward: shapes, unit embeddings, no leaks; a 128-px image is averaged down to 64", async () => {
  const params = initParams(evaluatorSpecs(tiny), 1);
  const x = tf.randomUniform([3, 64, 64, 3], -1, 1, "float32", 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const out = evaluatorForward(params, x, tiny);
  for (const h of tiny.heads) assert.deepEqual(out.logits[h.attribute].shape, [3, h.classes.length]);
  assert.deepEqual(out.embedding.shape, [3, 8]);
  const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(out.embedding), 1)));
  for (const v of norms.dataSync()) assert.ok(Math.abs(v - 1) < 1e-4, `norm ${v}`);
  norms.dispose();
  disposeOutput(out);
  assert.equal(tf.memory().numTensors, before, "evaluatorForward leaked");
  // nearest 2× upsampling then area down-sampling gives back the same image
  const big = tf.image.resizeNearestNeighbor(x, [128, 128]);
  const small = toEvaluatorSize(big, 64);
  assert.ok(tf.max(tf.abs(tf.sub(small, x))).dataSync()[0] < 1e-6);
  const n0 = tf.memory().numTensors;
  const p64 = await predict(params, { data: x.dataSync() as Float32Array, shape: [3, 64, 64, 3] }, tiny, 2);
  const p128 = await predict(params, { data: big.dataSync() as Float32Array, shape: [3, 128, 128, 3] }, tiny);
  assert.equal(tf.memory().numTensors, n0, "predict leaked");
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(p64[i].indices, p128[i].indices);
    for (let j = 0; j < 8; j++) assert.ok(Math.abs(p64[i].embedding[j] - p128[i].embedding[j]) < 1e-5);
  }
  tf.dispose([x, big, small]);
  disposeParams(params);
});

test("hair style is not scored under a cap or santa hat", () => {
  const base: Omit<FaceAttributes, "headwear"> = {
    gender: "male",
    skinTone: "light",
    hairStyle: "short",
    hairColor: "black",
    facialHair: "none",
    glasses: "none",
    eyes: "round",
    eyebrows: "thin",
    mouth: "smiling",
    background: "red",
    brightness: "dark",
    backgroundRgb: [0, 0, 0],
    backgroundLuma: 0,
  };
  const hs = CATEGORICAL_ATTRIBUTES.indexOf("hairStyle");
  assert.equal(scoredMask({ ...base, headwear: "cap" })[hs], 0);
  assert.equal(scoredMask({ ...base, headwear: "santa hat" })[hs], 0);
  assert.equal(scoredMask({ ...base, headwear: "headband" })[hs], 1);
  assert.equal(
    scoredMask({ ...base, headwear: "none" }).reduce((a, b) => a + b),
    CATEGORICAL_ATTRIBUTES.length,
  );
});

test("hair colour is scored only where the hair shows: not bald, and long if under a cap or santa hat", () => {
  const base: FaceAttributes = {
    gender: "male",
    skinTone: "light",
    hairStyle: "short",
    hairColor: "black",
    facialHair: "none",
    glasses: "none",
    eyes: "round",
    headwear: "none",
    eyebrows: "thin",
    mouth: "smiling",
    background: "red",
    brightness: "dark",
    backgroundRgb: [0, 0, 0],
    backgroundLuma: 0,
  };
  const hc = CATEGORICAL_ATTRIBUTES.indexOf("hairColor");
  const scored = (a: Partial<FaceAttributes>) => scoredMask({ ...base, ...a })[hc];
  assert.equal(scored({}), 1);
  assert.equal(scored({ hairStyle: "bald" }), 0);
  assert.equal(scored({ hairStyle: "bald", headwear: "headband" }), 0);
  assert.equal(scored({ headwear: "cap" }), 0);
  assert.equal(scored({ headwear: "santa hat", hairStyle: "long" }), 1);
  assert.equal(scored({ headwear: "headband" }), 1);
  // the caption names a hair colour exactly where it is scored
  for (const [style, headwear] of [
    ["bald", "none"],
    ["short", "cap"],
    ["long", "cap"],
    ["curly", "none"],
    ["short", "headband"],
  ] as const) {
    const a = { ...base, hairStyle: style, headwear };
    const captions = Array.from({ length: 40 }, (_, i) => captionOf(a, rng(0, "hc", i)));
    assert.equal(
      captions.some((c) => c.includes(" black hair")),
      scored(a) === 1,
      `${style} under ${headwear}: ${captions[0]}`,
    );
  }
});

test("cosine schedule and batch order", () => {
  assert.equal(cosineLr(0, 100, 1), 1);
  assert.ok(Math.abs(cosineLr(99, 100, 1) - 0.05) < 1e-12);
  const s = batchSchedule(10, 7, 4, 3);
  assert.deepEqual(s, batchSchedule(10, 7, 4, 3));
  for (const b of s) for (let i = 0; i < b.length; i += 2) assert.equal(b[i + 1], b[i] + 1, "twins adjacent");
  // the first two steps and half of the third cover every pair once (an epoch without replacement)
  assert.deepEqual(new Set([...s[0], ...s[1]].map((i) => i >> 1)).size, 8);
  assert.throws(() => batchSchedule(3, 1, 4, 0), /at least 4 faces/);
});

test("training smoke run: loss decreases, same seed gives the same bytes, no leaked tensors", async () => {
  const faces = await renderLabelledFaces({ split: "train", count: 8, seed: 3, twins: true });
  assert.equal(faces.count, 16);
  // twins share every identity attribute and the seed
  for (let i = 0; i < 16; i += 2) {
    assert.equal(faces.identity[i], faces.identity[i + 1]);
    assert.equal(faces.attributes[i].hairStyle, faces.attributes[i + 1].hairStyle);
    assert.equal(faces.attributes[i].eyes, faces.attributes[i + 1].eyes);
  }
  const before = tf.memory().numTensors;
  const run = () => trainEvaluator(faces, tiny, { steps: 20, pairs: 8, lr: 2e-2, seed: 9 });
  const a = await run();
  const first = a.log[0].loss;
  const last = a.log[a.log.length - 1].loss;
  assert.ok(last < 0.8 * first, `loss ${first} → ${last}`);
  const b = await run();
  assert.deepEqual(
    a.log.map((l) => l.loss),
    b.log.map((l) => l.loss),
  );
  for (const [k, v] of a.params)
    assert.deepEqual(Buffer.from(v.dataSync().buffer), Buffer.from(b.params.get(k)!.dataSync().buffer), k);
  const acc = await attributeAccuracy(a.params, faces, tiny);
  assert.equal(acc.length, CATEGORICAL_ATTRIBUTES.length);
  disposeParams(a.params);
  disposeParams(b.params);
  assert.equal(tf.memory().numTensors, before, "training leaked tensors");
});
