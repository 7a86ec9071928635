import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { checkParams, disposeParams, fanIn, initKind, initParams, initValues, paramsFromValues, zeroParams } from "./init";
import { ParamSpec } from "./params";
import { hashParams } from "./fixtures/testing";

before(async () => {
  await tf.setBackend("cpu");
});

const specs: ParamSpec[] = [
  { name: "conv.weight", shape: [3, 3, 16, 8], layout: "conv2d" },
  { name: "conv.bias", shape: [8], layout: "same" },
  { name: "fc.weight", shape: [64, 32], layout: "linear" },
  { name: "norm.weight", shape: [32], layout: "same" },
  { name: "norm.bias", shape: [32], layout: "same" },
  { name: "tok.weight", shape: [500, 16], layout: "same" },
];

test("initParams is deterministic in the seed: same bytes for the same seed, others differ", () => {
  const before = tf.memory().numTensors;
  const a = initParams(specs, 42);
  const b = initParams(specs, 42);
  const c = initParams(specs, 43);
  assert.equal(tf.memory().numTensors, before + 3 * specs.length);
  assert.equal(hashParams(a), hashParams(b));
  assert.notEqual(hashParams(a), hashParams(c));
  // A parameter's values depend on (seed, name) only, not on the other specs or their order.
  const alone = initParams([specs[2]], 42);
  assert.deepEqual(alone.get("fc.weight")!.dataSync(), a.get("fc.weight")!.dataSync());
  for (const p of [a, b, c, alone]) disposeParams(p);
  assert.equal(tf.memory().numTensors, before, "disposeParams left variables behind");
  assert.throws(() => initParams(specs, 1.5), /seed must be an integer/);
});

test("initialisation follows PyTorch's defaults: kaiming-uniform bounds, zero biases, unit norms, N(0, 0.02²) embeddings", () => {
  assert.deepEqual(specs.map(initKind), ["kaiming-uniform", "zeros", "kaiming-uniform", "ones", "zeros", "normal-0.02"]);
  assert.equal(fanIn(specs[0]), 3 * 3 * 16);
  assert.equal(fanIn(specs[2]), 64);
  for (const i of [0, 2]) {
    const v = initValues(specs[i], 0);
    const bound = 1 / Math.sqrt(fanIn(specs[i])); // torch: kaiming_uniform_(a=√5) → U(−1/√fan_in, 1/√fan_in)
    const max = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    assert.ok(max <= bound && max > 0.95 * bound, `${specs[i].name}: max |w| ${max} vs bound ${bound}`);
    const variance = v.reduce((a, x) => a + x * x, 0) / v.length; // U(−b, b) has variance b²/3
    assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.1, `${specs[i].name}: variance ${variance}`);
  }
  assert.ok(initValues(specs[1], 0).every((x) => x === 0));
  assert.ok(initValues(specs[3], 0).every((x) => x === 1));
  assert.ok(initValues(specs[4], 0).every((x) => x === 0));
  const e = initValues(specs[5], 0);
  const mean = e.reduce((a, x) => a + x, 0) / e.length;
  const std = Math.sqrt(e.reduce((a, x) => a + (x - mean) ** 2, 0) / e.length);
  assert.ok(Math.abs(mean) < 0.002 && Math.abs(std / 0.02 - 1) < 0.05, `embedding mean ${mean}, std ${std}`);
});

test("paramsFromValues and checkParams: names and shapes must match the specs", () => {
  const before = tf.memory().numTensors;
  const values = new Map(specs.map((s) => [s.name, initValues(s, 5)]));
  const p = paramsFromValues(specs, values);
  checkParams(p, specs);
  assert.deepEqual(p.get("conv.weight")!.shape, [3, 3, 16, 8]);
  const z = zeroParams(specs);
  checkParams(z, specs);
  assert.throws(() => checkParams(z, specs.slice(1), "unet"), /unet: 1 mismatch\(es\).*unexpected "conv.weight"/);
  values.delete("norm.bias");
  assert.throws(() => paramsFromValues(specs, values), /1 parameter\(s\) missing from the loaded weights, e.g. "norm.bias"/);
  values.set("norm.bias", new Float32Array(3));
  assert.throws(() => paramsFromValues(specs, values), /"norm.bias" has 3 values; its shape \[32\] needs 32/);
  disposeParams(p);
  disposeParams(z);
  assert.equal(tf.memory().numTensors, before);
});
