import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { conv2dBackpropFilterFast, conv2dBackpropInputFast, dilateNHWC, im2col } from "./conv";
import { fixedRandom, gradsOfWeighted, relErr, runOn, wasmVsCpu } from "./test-util";

type Pad = "same" | "valid" | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case {
  x: number[];
  w: number[];
  s: number;
  pad: Pad;
}
const CASES: Case[] = [
  { x: [2, 8, 8, 4], w: [3, 3, 4, 6], s: 1, pad: "same" },
  { x: [2, 8, 8, 4], w: [3, 3, 4, 6], s: 2, pad: "same" },
  { x: [1, 9, 7, 3], w: [3, 3, 3, 5], s: 2, pad: "same" },
  { x: [1, 9, 7, 3], w: [3, 3, 3, 5], s: 2, pad: "valid" },
  { x: [2, 6, 6, 5], w: [1, 1, 5, 4], s: 1, pad: "valid" },
  { x: [1, 8, 8, 2], w: [2, 2, 2, 3], s: 2, pad: "valid" },
  { x: [1, 8, 8, 2], w: [4, 4, 2, 3], s: 2, pad: "same" },
  {
    x: [1, 7, 8, 3],
    w: [3, 3, 3, 4],
    s: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  {
    x: [1, 8, 8, 3],
    w: [3, 3, 3, 4],
    s: 2,
    pad: [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ],
  },
  {
    x: [1, 5, 5, 2],
    w: [3, 3, 2, 2],
    s: 1,
    pad: [
      [0, 0],
      [3, 0],
      [0, 3],
      [0, 0],
    ],
  },
];
const name = (c: Case) =>
  `x${c.x.join("x")} w${c.w.join("x")} s${c.s} ${typeof c.pad === "string" ? c.pad : JSON.stringify(c.pad)}`;
const conv = (c: Case) => (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad);

for (const c of CASES) {
  test(`conv2d gradients on wasm match cpu: ${name(c)}`, async () => {
    const err = await wasmVsCpu(
      [
        { shape: c.x, seed: 1 },
        { shape: c.w, seed: 2 },
      ],
      gradsOfWeighted(conv(c), [0, 1]),
    );
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });
}

test("the fast conv gradients equal the native cpu kernels on cpu (input and filter)", async () => {
  for (const c of CASES) {
    const [dxFast, dxNative, dwFast, dwNative] = await runOn(
      "cpu",
      [
        { shape: c.x, seed: 3 },
        { shape: c.w, seed: 4 },
      ],
      (x, w) => {
        const y = conv(c)(x, w) as tf.Tensor4D;
        const dy = tf.tensor(fixedRandom(y.size, 5), y.shape) as tf.Tensor4D;
        const attrs = { strides: c.s, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: undefined };
        return [
          conv2dBackpropInputFast(dy, w as tf.Tensor4D, c.x, c.s, c.pad),
          tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, {
            ...attrs,
            inputShape: c.x,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
          conv2dBackpropFilterFast(x as tf.Tensor4D, dy, c.w, c.s, c.pad),
          tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
            ...attrs,
            filterShape: c.w,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        ];
      },
    );
    assert.ok(relErr(dxFast, dxNative) <= 1e-5, `${name(c)} dx ${relErr(dxFast, dxNative)}`);
    assert.ok(relErr(dwFast, dwNative) <= 1e-5, `${name(c)} dw ${relErr(dwFast, dwNative)}`);
  }
});

test("conv2dTranspose (Conv2DBackpropInput) and its gradient on wasm match cpu", async () => {
  const f = (dy: tf.Tensor, w: tf.Tensor) =>
    tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [1, 8, 8, 3], 2, "same");
  const err = await wasmVsCpu(
    [
      { shape: [1, 4, 4, 5], seed: 6 },
      { shape: [3, 3, 3, 5], seed: 7 },
    ],
    (dy, w) => [f(dy, w), ...gradsOfWeighted(f, [0, 1])(dy, w)],
  );
  assert.ok(err <= 1e-4, `relative error ${err}`);
});

test("dilateNHWC inserts stride-1 zeros after each sample (hand-computed)", async () => {
  const [d] = await runOn("cpu", [{ shape: [1, 2, 2, 1], seed: 0, values: [1, 2, 3, 4] }], (x) =>
    dilateNHWC(x as tf.Tensor4D, 2, 2),
  );
  assert.deepEqual(Array.from(d), [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]);
});

test("im2col of a 3x3 'same' patch around pixel (1,1) is the 3x3 neighbourhood (hand-computed)", async () => {
  const values = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [cols] = await runOn("wasm", [{ shape: [1, 3, 3, 1], seed: 0, values }], (x) =>
    im2col(x as tf.Tensor4D, [3, 3, 1, 1], 1, "same"),
  );
  assert.deepEqual(Array.from(cols.slice(4 * 9, 5 * 9)), values); // row of output pixel (1,1)
  assert.deepEqual(Array.from(cols.slice(0, 9)), [0, 0, 0, 0, 1, 2, 0, 4, 5]); // pixel (0,0), zero padded
});

test("conv gradients on wasm do not leak tensors and are bit-identical across runs", async () => {
  await runOn("wasm", [], () => tf.zeros([1]));
  const c = CASES[1];
  const before = tf.memory().numTensors;
  const a = await runOn(
    "wasm",
    [
      { shape: c.x, seed: 1 },
      { shape: c.w, seed: 2 },
    ],
    gradsOfWeighted(conv(c), [0, 1]),
  );
  const b = await runOn(
    "wasm",
    [
      { shape: c.x, seed: 1 },
      { shape: c.w, seed: 2 },
    ],
    gradsOfWeighted(conv(c), [0, 1]),
  );
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(Buffer.from(a[0].buffer), Buffer.from(b[0].buffer));
  assert.deepEqual(Buffer.from(a[1].buffer), Buffer.from(b[1].buffer));
});

test("conv gradient kernels reject NCHW with a clear error", async () => {
  await runOn("wasm", [], () => tf.zeros([1]));
  const x = tf.zeros([1, 4, 4, 2]);
  const dy = tf.zeros([1, 4, 4, 3]);
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(
          "Conv2DBackpropFilter",
          { x, dy },
          { strides: 1, pad: "same", dataFormat: "NCHW", filterShape: [3, 3, 2, 3] },
        ),
    /dataFormat NCHW is not supported; use NHWC/,
  );
  tf.dispose([x, dy]);
});
