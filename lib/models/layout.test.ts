import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { ParamSpec, torchShape } from "./params";
import { checkSpec, tfjsToTorch, torchToTfjs, transpose2d } from "./layout";

const conv: ParamSpec = { name: "conv.weight", shape: [3, 2, 4, 5], layout: "conv2d" }; // tfjs [kh, kw, in, out]
const linear: ParamSpec = { name: "proj.weight", shape: [4, 3], layout: "linear" }; // tfjs [in, out]

test("conv2d: tfjs[y, x, i, o] = torch[o, i, y, x] for every element", () => {
  const [kh, kw, ci, co] = conv.shape;
  assert.deepEqual(torchShape(conv), [co, ci, kh, kw]);
  // torch element value encodes its own index: 1000 o + 100 i + 10 y + x
  const t = new Float32Array(co * ci * kh * kw);
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) t[((o * ci + i) * kh + y) * kw + x] = 1000 * o + 100 * i + 10 * y + x;
  const f = torchToTfjs(t, conv);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) assert.equal(f[((y * kw + x) * ci + i) * co + o], 1000 * o + 100 * i + 10 * y + x);
  assert.deepEqual(tfjsToTorch(f, conv), t);
});

test("linear: tfjs[i, o] = torch[o, i]; round trip; 'same' is the identity", () => {
  const t = Float32Array.from({ length: 12 }, (_, k) => k); // torch [3 out, 4 in]
  const f = torchToTfjs(t, linear);
  for (let i = 0; i < 4; i++) for (let o = 0; o < 3; o++) assert.equal(f[i * 3 + o], t[o * 4 + i]);
  assert.deepEqual(tfjsToTorch(f, linear), t);
  const s = new Float32Array([1, 2, 3]);
  assert.equal(torchToTfjs(s, { name: "b", shape: [3], layout: "same" }), s);
  assert.deepEqual(transpose2d(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3), new Float32Array([1, 4, 2, 5, 3, 6]));
});

test("converted weights compute what torch computes: Conv2d and Linear against tf.conv2d / tf.matMul", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const [kh, kw, ci, co] = conv.shape;
  const H = 6, W = 7;
  const w = Float32Array.from({ length: co * ci * kh * kw }, (_, k) => Math.sin(k * 1.7)); // torch [o, i, kh, kw]
  const xNchw = Float32Array.from({ length: ci * H * W }, (_, k) => Math.cos(k * 0.3)); // torch input [1, ci, H, W]
  // torch.nn.functional.conv2d (cross-correlation, stride 1, padding 0), by its definition
  const Ho = H - kh + 1, Wo = W - kw + 1;
  const want = new Float32Array(co * Ho * Wo);
  for (let o = 0; o < co; o++)
    for (let r = 0; r < Ho; r++)
      for (let c = 0; c < Wo; c++) {
        let acc = 0;
        for (let i = 0; i < ci; i++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++) acc += w[((o * ci + i) * kh + y) * kw + x] * xNchw[(i * H + r + y) * W + c + x];
        want[(o * Ho + r) * Wo + c] = acc;
      }
  const got = tf.tidy(() => {
    const xNhwc = tf.transpose(tf.tensor4d(xNchw, [1, ci, H, W]), [0, 2, 3, 1]);
    const y = tf.conv2d(xNhwc, tf.tensor4d(torchToTfjs(w, conv), conv.shape as [number, number, number, number]), 1, "valid");
    return tf.transpose(y, [0, 3, 1, 2]); // back to NCHW
  });
  const g = await got.data();
  got.dispose();
  for (let k = 0; k < want.length; k++) assert.ok(Math.abs(g[k] - want[k]) < 1e-4, `conv ${k}: ${g[k]} vs ${want[k]}`);
  // torch.nn.Linear: y = x Wᵀ with W [out, in]
  const lw = Float32Array.from({ length: 12 }, (_, k) => k - 5.5); // torch [3, 4]
  const xv = [0.5, -1, 2, 0.25];
  const y = tf.tidy(() => tf.matMul(tf.tensor2d(xv, [1, 4]), tf.tensor2d(torchToTfjs(lw, linear), [4, 3])));
  const yv = await y.data();
  y.dispose();
  for (let o = 0; o < 3; o++) assert.ok(Math.abs(yv[o] - xv.reduce((a, v, i) => a + v * lw[o * 4 + i], 0)) < 1e-5);
  assert.equal(tf.memory().numTensors, before);
});

test("bad specs and lengths are errors naming the parameter", () => {
  assert.throws(() => torchToTfjs(new Float32Array(5), conv), /conv\.weight: 5 values do not fill shape \[3, 2, 4, 5\]/);
  assert.throws(() => checkSpec({ name: "w", shape: [3, 4], layout: "conv2d" }), /w: layout conv2d needs a rank-4 shape/);
  assert.throws(() => checkSpec({ name: "w", shape: [3], layout: "linear" }), /rank-2/);
  assert.throws(() => checkSpec({ name: "w", shape: [3], layout: "dense" as never }), /unknown layout "dense"; known: conv2d, linear, same/);
  assert.throws(() => checkSpec({ name: "w", shape: [2.5], layout: "same" }), /non-negative integers/);
});
