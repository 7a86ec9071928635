import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { causalMask, clipTextForward, clipTextParamSpecs } from "./clip-text";
import { shippedConfigs } from "./configs";
import { disposeParams, initParams } from "./init";
import { torchShape } from "./params";
import { hashTensor, testValues, trainStep } from "./fixtures/testing";

before(async () => {
  await tf.setBackend("cpu");
});

const tiny = shippedConfigs("tiny").textEncoder;

/** CLIP-like ids: BOS 49406, some words, EOS 49407, padded with EOS to length S. */
function ids(B: number, S: number, seed: number): tf.Tensor2D {
  const v = testValues(B * S, seed);
  const out = new Int32Array(B * S);
  for (let b = 0; b < B; b++) {
    const len = 3 + b;
    for (let s = 0; s < S; s++) out[b * S + s] = s === 0 ? 49406 : s < len ? Math.floor(((v[b * S + s] + 1) / 2) * 49000) : 49407;
  }
  return tf.tensor2d(out, [B, S], "int32");
}

test("text encoder specs carry transformers' names and torch shapes (SD 1.5, from the config only)", () => {
  const specs = clipTextParamSpecs(shippedConfigs("sd15").textEncoder);
  const byName = new Map(specs.map((s) => [s.name, s]));
  const expected: [string, number[]][] = [
    ["text_model.embeddings.token_embedding.weight", [49408, 768]],
    ["text_model.embeddings.position_embedding.weight", [77, 768]],
    ["text_model.encoder.layers.0.self_attn.q_proj.weight", [768, 768]],
    ["text_model.encoder.layers.11.mlp.fc1.weight", [3072, 768]],
    ["text_model.encoder.layers.11.mlp.fc2.bias", [768]],
    ["text_model.final_layer_norm.weight", [768]],
  ];
  for (const [name, shape] of expected) {
    assert.ok(byName.has(name), `missing ${name}`);
    assert.deepEqual(torchShape(byName.get(name)!), shape, name);
  }
  assert.equal(specs.length, 2 + 12 * 16 + 2);
});

test("causal mask: a token attends to itself and earlier tokens only", () => {
  const m = causalMask(3);
  assert.deepEqual(Array.from(m.dataSync()), [0, -1e9, -1e9, 0, 0, -1e9, 0, 0, 0]);
  m.dispose();
});

test("tiny text encoder: [B, 77, hidden], causal (a token ignores later ones), no leaks", () => {
  const params = initParams(clipTextParamSpecs(tiny), 0);
  const a = ids(2, 77, 1);
  const before = tf.memory().numTensors;
  const h = clipTextForward(params, tiny, a);
  assert.deepEqual(h.shape, [2, 77, tiny.hidden_size]);
  assert.equal(tf.memory().numTensors, before + 1);
  // Changing token 5 changes states 5.. but not 0..4.
  const arr = a.arraySync();
  arr[0][5] = 1234;
  const b = tf.tensor2d(arr, [2, 77], "int32");
  const h2 = clipTextForward(params, tiny, b);
  const early = (t: tf.Tensor) => tf.tidy(() => tf.slice(t, [0, 0, 0], [1, 5, tiny.hidden_size]));
  const late = (t: tf.Tensor) => tf.tidy(() => tf.slice(t, [0, 5, 0], [1, 1, tiny.hidden_size]));
  const [e1, e2, l1, l2] = [early(h), early(h2), late(h), late(h2)];
  assert.equal(hashTensor(e1), hashTensor(e2), "earlier tokens saw a later token");
  assert.notEqual(hashTensor(l1), hashTensor(l2));
  // The final LayerNorm (weight 1, bias 0 at init) gives each state zero mean.
  const means = tf.tidy(() => tf.mean(h, -1).dataSync());
  assert.ok(means.every((v) => Math.abs(v) < 1e-5));
  tf.dispose([h, h2, b, e1, e2, l1, l2]);
  const long = tf.zeros([1, 78], "int32") as tf.Tensor2D;
  assert.throws(() => clipTextForward(params, tiny, long), /78 tokens exceed max_position_embeddings = 77/);
  tf.dispose([long, a]);
  disposeParams(params);
});

test("tiny text encoder backward: every parameter gets a gradient; forward, backward and an Adam step leak nothing", () => {
  const params = initParams(clipTextParamSpecs(tiny), 1);
  const a = ids(2, 16, 2);
  const target = tf.tensor3d(testValues(2 * 16 * tiny.hidden_size, 3), [2, 16, tiny.hidden_size]);
  const before = tf.memory().numTensors;
  const opt = tf.train.adam(1e-3);
  const fwd = () => clipTextForward(params, tiny, a);
  const s1 = trainStep(params, fwd, target, opt);
  // Positions ≥ 16 are not used by a 16-token input: their gradient is zero, but it exists.
  assert.deepEqual(s1.missing, [], "parameters without a gradient");
  const loss2 = tf.tidy(() => tf.mean(tf.squaredDifference(fwd(), target)).dataSync()[0]);
  assert.ok(loss2 < s1.loss, `loss did not decrease after one Adam step (${s1.loss} → ${loss2})`);
  opt.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([a, target]);
  disposeParams(params);
});
