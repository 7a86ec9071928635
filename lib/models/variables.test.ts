import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { ParamSpec } from "./params";
import { Params } from "./params";
import { arraysFromParams, arraysFromParamsAsync, paramsFromArrays } from "./variables";

const disposeParams = (p: Params) => p.forEach((v) => v.dispose());

const specs: ParamSpec[] = [
  { name: "conv.weight", shape: [3, 3, 2, 4], layout: "conv2d" },
  { name: "conv.bias", shape: [4], layout: "same" },
  { name: "proj.weight", shape: [4, 5], layout: "linear" },
];
const arrays = () =>
  new Map(specs.map((s, p) => [s.name, Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, k) => Math.sin(p * 100 + k))]));

for (const backend of ["cpu", "wasm"]) {
  test(`paramsFromArrays → arraysFromParams round trips bit-exactly and leaks nothing (${backend})`, async () => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const a = arrays();
    const params = paramsFromArrays(a, specs);
    assert.equal(tf.memory().numTensors, before + specs.length);
    assert.deepEqual([...params.keys()], specs.map((s) => s.name));
    for (const s of specs) {
      assert.deepEqual(params.get(s.name)!.shape, s.shape);
      assert.equal(params.get(s.name)!.trainable, true);
    }
    const back = arraysFromParams(params);
    const backAsync = await arraysFromParamsAsync(params);
    for (const s of specs) {
      assert.deepEqual(back.get(s.name), a.get(s.name));
      assert.deepEqual(backAsync.get(s.name), a.get(s.name));
    }
    // the variables own copies: changing the inputs or the outputs does not change them
    a.get("conv.bias")![0] = 99;
    back.get("conv.bias")![1] = 99;
    const again = arraysFromParams(params).get("conv.bias")!;
    assert.equal(again[0], Math.fround(Math.sin(100)));
    assert.equal(again[1], Math.fround(Math.sin(101)));
    disposeParams(params);
    assert.equal(tf.memory().numTensors, before);
  });
}

test("options: frozen variables and named variables; errors name the parameter and leak nothing", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const p = paramsFromArrays(arrays(), specs, { trainable: false, namePrefix: "unet-test" });
  assert.equal(p.get("conv.bias")!.trainable, false);
  assert.equal(p.get("conv.bias")!.name, "unet-test/conv.bias");
  disposeParams(p);
  const missing = arrays();
  missing.delete("proj.weight");
  assert.throws(() => paramsFromArrays(missing, specs), /no values for parameter "proj\.weight" \[4, 5\]/);
  const short = arrays();
  short.set("conv.bias", new Float32Array(3));
  assert.throws(() => paramsFromArrays(short, specs), /"conv\.bias" has 3 values, shape \[4\] needs 4/);
  assert.equal(tf.memory().numTensors, before);
});
