import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { GRADIENT_CONFIGS } from "./gradients";
import { registerTrainingKernels } from "./index";
import { fixedRandom, gradsOfWeighted, runOn, wasmVsCpu } from "./test-util";

type F = (...xs: tf.Tensor[]) => tf.Tensor;
const X = { shape: [2, 3, 4], seed: 11 };
/** Values at least 0.1 away from the kinks of where(x > 0), clip(±0.5) and maximum(x, x ± 0.25). */
const AWAY = Array.from({ length: 24 }, (_, i) => [-0.9, -0.7, -0.3, -0.2, 0.2, 0.3, 0.7, 0.9][i % 8] * (1 - 0.01 * i));
const POS = (x: tf.Tensor) => tf.add(tf.abs(x), 0.5); // keeps log/sqrt/pow inputs positive
/** Every op the models differentiate through, as f(x[, y]) with its input shapes. */
const OPS: [string, F, { shape: number[]; seed: number; dtype?: "int32"; values?: number[] }[], number[]][] = [
  ["add (broadcast)", (a, b) => tf.add(a, b), [X, { shape: [4], seed: 12 }], [0, 1]],
  ["sub (broadcast)", (a, b) => tf.sub(a, b), [X, { shape: [3, 1], seed: 12 }], [0, 1]],
  ["mul (broadcast)", (a, b) => tf.mul(a, b), [X, { shape: [1, 3, 4], seed: 12 }], [0, 1]],
  ["div", (a, b) => tf.div(a, POS(b)), [X, { shape: [2, 3, 4], seed: 12 }], [0, 1]],
  ["squaredDifference", (a, b) => tf.squaredDifference(a, b), [X, { shape: [2, 3, 4], seed: 12 }], [0, 1]],
  ["pow", (a) => tf.pow(POS(a), 2.5), [X], [0]],
  [
    "neg, square, sqrt, rsqrt",
    (a) => tf.add(tf.neg(tf.square(a)), tf.add(tf.sqrt(POS(a)), tf.rsqrt(POS(a)))),
    [X],
    [0],
  ],
  ["exp, log, reciprocal", (a) => tf.add(tf.exp(a), tf.add(tf.log(POS(a)), tf.reciprocal(POS(a)))), [X], [0]],
  ["sin, cos", (a) => tf.mul(tf.sin(a), tf.cos(a)), [X], [0]],
  ["sigmoid (SiLU)", (a) => tf.mul(a, tf.sigmoid(a)), [X], [0]],
  ["tanh (GELU tanh approx.)", (a) => tf.mul(a, tf.tanh(tf.mul(a, 0.8))), [X], [0]],
  ["erf (GELU)", (a) => tf.mul(a, tf.erf(a)), [X], [0]],
  [
    "softplus, relu, elu, leakyRelu",
    (a) => tf.addN([tf.softplus(a), tf.relu(a), tf.elu(a), tf.leakyRelu(a, 0.1)]),
    [X],
    [0],
  ],
  ["sum, mean over axes", (a) => tf.add(tf.sum(a, [1]), tf.mean(a, [1], false)), [X], [0]],
  ["max, min", (a) => tf.add(tf.max(a, -1, true), tf.min(a, 1, true)), [X], [0]],
  [
    "moments (GroupNorm)",
    (a) => {
      const m = tf.moments(tf.reshape(a, [2, 2, 6]), [2], true);
      return tf.div(tf.sub(tf.reshape(a, [2, 2, 6]), m.mean), tf.sqrt(tf.add(m.variance, 1e-5)));
    },
    [X],
    [0],
  ],
  ["softmax", (a) => tf.softmax(a), [X], [0]],
  ["logSoftmax", (a) => tf.logSoftmax(a), [X], [0]],
  ["reshape, transpose, expandDims", (a) => tf.expandDims(tf.transpose(tf.reshape(a, [6, 4]), [1, 0]), 1), [X], [0]],
  [
    "concat, split",
    (a, b) => {
      const [p, q] = tf.split(tf.concat([a, b], 2), [3, 5], 2);
      return tf.mul(p, tf.slice(q, [0, 0, 0], [2, 3, 3]));
    },
    [X, { shape: [2, 3, 4], seed: 12 }],
    [0, 1],
  ],
  ["stack, unstack", (a) => tf.mul(tf.stack(tf.unstack(a, 1), 2), 2), [X], [0]],
  [
    "slice, pad",
    (a) =>
      tf.pad(tf.slice(a, [0, 1, 1], [2, 2, 2]), [
        [0, 0],
        [1, 1],
        [0, 2],
      ]),
    [X],
    [0],
  ],
  ["tile, broadcastTo", (a) => tf.add(tf.tile(a, [1, 2, 1]), tf.broadcastTo(tf.sum(a, 1, true), [2, 6, 4])), [X], [0]],
  [
    "gather rows (embedding)",
    (t, i) => tf.gather(t, i),
    [
      { shape: [5, 3], seed: 13 },
      { shape: [4], seed: 0, dtype: "int32", values: [0, 3, 3, 1] },
    ],
    [0],
  ],
  [
    "gather axis 1",
    (t, i) => tf.gather(t, i, 1),
    [X, { shape: [2, 2], seed: 0, dtype: "int32", values: [2, 0, 2, 2] }],
    [0],
  ],
  [
    "resizeNearestNeighbor x2",
    (a) => tf.image.resizeNearestNeighbor(tf.reshape(a, [1, 3, 4, 2]) as tf.Tensor4D, [6, 8]),
    [X],
    [0],
  ],
  [
    "where, clipByValue, maximum",
    (a, b) =>
      tf.add(tf.where(tf.greater(a, 0), a, tf.mul(b, 2)), tf.add(tf.clipByValue(a, -0.5, 0.5), tf.maximum(a, b))),
    [
      { shape: [2, 3, 4], seed: 0, values: AWAY },
      { shape: [2, 3, 4], seed: 0, values: AWAY.map((v, i) => v + (i % 2 ? 0.25 : -0.25)) },
    ],
    [0, 1],
  ],
  [
    "batched matMul (attention scores)",
    (a, b) => tf.softmax(tf.matMul(a, b, false, true)),
    [
      { shape: [2, 5, 4], seed: 14 },
      { shape: [2, 6, 4], seed: 15 },
    ],
    [0, 1],
  ],
  [
    "conv2d same",
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
    [
      { shape: [1, 4, 4, 2], seed: 16 },
      { shape: [3, 3, 2, 3], seed: 17 },
    ],
    [0, 1],
  ],
];

for (const [name, f, inputs, floats] of OPS) {
  test(`gradient of ${name}: wasm matches cpu`, async () => {
    const err = await wasmVsCpu(inputs, gradsOfWeighted(f, floats));
    assert.ok(err <= 1e-4, `relative error ${err}`);
  });
}

/**
 * Central differences in float64 arithmetic on top of float32 evaluations: the derivative of
 * sum(f(x) r) along each coordinate, with step h. Error O(h²) + O(ε32 |f| / h).
 */
async function numericGrad(f: F, inputs: (typeof OPS)[0][2], which: number, h = 1e-3): Promise<Float64Array> {
  const loss = async (values: Float32Array) => {
    const xs = inputs.map((i, k) =>
      k === which
        ? tf.tensor(values, i.shape)
        : i.values
          ? tf.tensor(i.values, i.shape, i.dtype ?? "float32")
          : tf.tensor(
              fixedRandom(
                i.shape.reduce((a, b) => a * b, 1),
                i.seed,
              ),
              i.shape,
            ),
    );
    const y = f(...xs);
    const r = tf.tensor(fixedRandom(y.size, 99), y.shape);
    const s = tf.sum(tf.mul(tf.cast(y, "float32"), r));
    const v = (await s.data())[0];
    tf.dispose([...xs, y, r, s]);
    return v;
  };
  const inp = inputs[which];
  const base = inp.values
    ? Float32Array.from(inp.values)
    : fixedRandom(
        inp.shape.reduce((a, b) => a * b, 1),
        inp.seed,
      );
  const g = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const p = base.slice();
    p[i] += h;
    const m = base.slice();
    m[i] -= h;
    g[i] = ((await loss(p)) - (await loss(m))) / (2 * h);
  }
  return g;
}

test("every gradient agrees with central finite differences on cpu", async () => {
  registerTrainingKernels();
  await tf.setBackend("cpu");
  // max/min/where/clip/relu/leakyRelu have kinks; the fixed inputs keep every coordinate more than h from one, and where/clip/maximum get hand-placed inputs.
  for (const [name, f, inputs, floats] of OPS) {
    const analytic = await runOn("cpu", inputs, gradsOfWeighted(f, floats));
    for (let k = 0; k < floats.length; k++) {
      const numeric = await numericGrad(f, inputs, floats[k]);
      const a = analytic[k];
      let worst = 0;
      for (let i = 0; i < a.length; i++)
        worst = Math.max(worst, Math.abs(a[i] - numeric[i]) / (1 + Math.abs(numeric[i])));
      assert.ok(worst <= 2e-2, `${name}, input ${floats[k]}: worst error ${worst}`);
    }
  }
});

test("registerTrainingKernels is idempotent and covers the probed kernels", () => {
  registerTrainingKernels();
  const again = registerTrainingKernels();
  assert.deepEqual(again, { gradients: [], wasmKernels: [] });
  for (const k of [
    "Conv2D",
    "BatchMatMul",
    "Softmax",
    "GatherV2",
    "ResizeNearestNeighbor",
    "Erf",
    "Sigmoid",
    "PadV2",
    "Concat",
    "Slice",
  ]) {
    assert.ok(tf.getGradient(k) != null, `no gradient for ${k}`);
  }
  for (const k of ["Conv2DBackpropFilter", "UnsortedSegmentSum"])
    assert.ok(tf.getKernel(k, "wasm") != null, `no wasm kernel ${k}`);
  assert.equal(
    new Set(GRADIENT_CONFIGS.map((c) => c.kernelName)).size,
    GRADIENT_CONFIGS.length,
    "duplicate gradient config",
  );
});

test("UnsortedSegmentSum on wasm: hand-computed sums, out-of-range ids dropped", async () => {
  const [out] = await runOn(
    "wasm",
    [
      { shape: [4, 2], seed: 0, values: [1, 2, 3, 4, 5, 6, 7, 8] },
      { shape: [4], seed: 0, dtype: "int32", values: [2, 0, 2, 7] },
    ],
    (x, ids) => tf.unsortedSegmentSum(x, ids as tf.Tensor1D, 3),
  );
  assert.deepEqual(Array.from(out), [3, 4, 0, 0, 1 + 5, 2 + 6]);
});

test("Identity on wasm shares the data under a reference count: a clone outlives its original, then frees it", async () => {
  registerTrainingKernels();
  await tf.setBackend("wasm");
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  const z = tf.tidy(() => tf.add(y, 0));
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  assert.deepEqual(Array.from(z.dataSync()), [1, 2, 3]);
  y.dispose();
  z.dispose();
  assert.equal(tf.memory().numTensors, before);
  const backend = tf.backend() as unknown as { dataIdMap: { numDataIds(): number } };
  const ids = backend.dataIdMap.numDataIds();
  const a = tf.tensor1d([4, 5]);
  tf.clone(a).dispose();
  a.dispose();
  assert.equal(backend.dataIdMap.numDataIds(), ids, "the shared buffer was not freed");
});
