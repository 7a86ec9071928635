import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import {
  attention,
  conv2d,
  conv2dStride2,
  embeddingLookup,
  gelu,
  getConvFilterGradient,
  groupNorm,
  layerNorm,
  linear,
  measureFlops,
  param,
  quickGelu,
  setConvFilterGradient,
  silu,
  timestepEmbedding,
  timestepFrequencies,
  upsampleNearest2x,
} from "./layers";
import { Params } from "./params";
import { testValues } from "./fixtures/testing";

before(async () => {
  await tf.setBackend("cpu");
});

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |error| ${worst} at ${at} (got ${actual[at]}, expected ${expected[at]}) > ${tol}`);
}

/** Runs fn, disposes what it returns, and checks that no tensor was left behind. */
function noLeak(fn: () => tf.TensorContainer): void {
  const before = tf.memory().numTensors;
  tf.dispose(fn());
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
}

function makeParams(entries: Record<string, { shape: number[]; seed: number }>): Params {
  const p: Params = new Map();
  for (const [name, { shape, seed }] of Object.entries(entries)) {
    const n = shape.reduce((a, b) => a * b, 1);
    p.set(name, tf.variable(tf.tensor(testValues(n, seed), shape), true));
  }
  return p;
}

const disposeAll = (p: Params) => p.forEach((v) => v.dispose());

test("groupNorm equals a plain loop over (sample, group)", () => {
  const [B, H, W, C, G, eps] = [2, 3, 4, 6, 3, 1e-5];
  const x = testValues(B * H * W * C, 1).map((v, i) => v * 3 + (i % 5)); // non-zero mean per group
  const gamma = testValues(C, 2);
  const beta = testValues(C, 3);
  const expected = new Float64Array(x.length);
  const Cg = C / G;
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < G; g++) {
      const idx: number[] = [];
      for (let s = 0; s < H * W; s++) for (let c = g * Cg; c < (g + 1) * Cg; c++) idx.push((b * H * W + s) * C + c);
      const mean = idx.reduce((a, i) => a + x[i], 0) / idx.length;
      const variance = idx.reduce((a, i) => a + (x[i] - mean) ** 2, 0) / idx.length; // biased, as torch
      for (const i of idx) {
        const c = i % C;
        expected[i] = ((x[i] - mean) / Math.sqrt(variance + eps)) * gamma[c] + beta[c];
      }
    }
  }
  const xt = tf.tensor4d(x, [B, H, W, C]);
  const gt = tf.tensor1d(gamma);
  const bt = tf.tensor1d(beta);
  const y = groupNorm(xt, gt, bt, G, eps);
  close(y.dataSync(), expected, 2e-5, "groupNorm");
  tf.dispose([y]);
  noLeak(() => groupNorm(xt, gt, bt, G, eps));
  assert.throws(() => groupNorm(xt, gt, bt, 4, eps), /6 channels are not divisible into 4 groups/);
  tf.dispose([xt, gt, bt]);
});

test("layerNorm equals a plain loop over the last axis", () => {
  const [N, D, eps] = [5, 8, 1e-5];
  const x = testValues(N * D, 4).map((v, i) => v + (i % 3));
  const gamma = testValues(D, 5);
  const beta = testValues(D, 6);
  const expected: number[] = [];
  for (let n = 0; n < N; n++) {
    const row = Array.from(x.slice(n * D, (n + 1) * D));
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / D;
    row.forEach((v, d) => expected.push(((v - mean) / Math.sqrt(variance + eps)) * gamma[d] + beta[d]));
  }
  const xt = tf.tensor2d(x, [N, D]);
  const gt = tf.tensor1d(gamma);
  const bt = tf.tensor1d(beta);
  const y = layerNorm(xt, gt, bt, eps);
  close(y.dataSync(), expected, 2e-5, "layerNorm");
  y.dispose();
  noLeak(() => layerNorm(xt, gt, bt, eps));
  tf.dispose([xt, gt, bt]);
});

test("attention equals a plain loop: per head softmax(q·k/√d + mask)·v", () => {
  const [B, N, M, heads, d] = [2, 3, 5, 2, 4];
  const inner = heads * d;
  const q = testValues(B * N * inner, 7).map((v) => 2 * v);
  const k = testValues(B * M * inner, 8).map((v) => 2 * v);
  const v = testValues(B * M * inner, 9);
  const mask = new Float32Array(N * M).map((_, i) => (i % M > Math.floor(i / M) ? -1e9 : 0)); // causal: key j > query i masked
  for (const useMask of [false, true]) {
    const expected = new Float64Array(B * N * inner);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < N; i++) {
          const s: number[] = [];
          for (let j = 0; j < M; j++) {
            let dot = 0;
            for (let e = 0; e < d; e++) dot += q[(b * N + i) * inner + h * d + e] * k[(b * M + j) * inner + h * d + e];
            s.push(dot / Math.sqrt(d) + (useMask ? mask[i * M + j] : 0));
          }
          const mx = Math.max(...s);
          const ex = s.map((x) => Math.exp(x - mx));
          const z = ex.reduce((a, b2) => a + b2, 0);
          for (let e = 0; e < d; e++) {
            let o = 0;
            for (let j = 0; j < M; j++) o += (ex[j] / z) * v[(b * M + j) * inner + h * d + e];
            expected[(b * N + i) * inner + h * d + e] = o;
          }
        }
      }
    }
    const qt = tf.tensor3d(q, [B, N, inner]);
    const kt = tf.tensor3d(k, [B, M, inner]);
    const vt = tf.tensor3d(v, [B, M, inner]);
    const mt = tf.tensor2d(mask, [N, M]);
    const out = attention(qt, kt, vt, heads, useMask ? mt : undefined);
    assert.deepEqual(out.shape, [B, N, inner]);
    close(out.dataSync(), expected, 1e-5, `attention (mask: ${useMask})`);
    out.dispose();
    noLeak(() => attention(qt, kt, vt, heads, useMask ? mt : undefined));
    tf.dispose([qt, kt, vt, mt]);
  }
});

test("timestep embedding follows diffusers get_timestep_embedding's formula", () => {
  // freq_k = exp(−ln(10000)·k/(half − shift)); emb = [sin(t·f), cos(t·f)], flipped to [cos, sin].
  const ts = [0, 1, 17, 500, 999];
  for (const [dim, shift, flip] of [
    [8, 0, true],
    [10, 1, false],
    [320, 0, true],
  ] as [number, number, boolean][]) {
    const half = dim / 2;
    const expected: number[] = [];
    for (const t of ts) {
      const sin: number[] = [];
      const cos: number[] = [];
      for (let k = 0; k < half; k++) {
        const f = Math.exp((-Math.log(10000) * k) / (half - shift));
        sin.push(Math.sin(t * f));
        cos.push(Math.cos(t * f));
      }
      expected.push(...(flip ? [...cos, ...sin] : [...sin, ...cos]));
    }
    const tt = tf.tensor1d(ts);
    const emb = timestepEmbedding(tt, dim, flip, shift);
    assert.deepEqual(emb.shape, [ts.length, dim]);
    // float32 arguments up to 999 rad carry ~6e-5 absolute error, as in torch
    close(emb.dataSync(), expected, 2e-4, `timestep embedding dim ${dim} shift ${shift}`);
    emb.dispose();
    noLeak(() => timestepEmbedding(tt, dim, flip, shift));
    tt.dispose();
  }
  // The first frequency is exactly 1, so with flip_sin_to_cos column 0 is cos(t) and column half is sin(t).
  assert.equal(timestepFrequencies(320, 0)[0], 1);
  assert.throws(() => timestepFrequencies(7, 0), /even integer/);
});

test("linear equals a plain loop (weight [in, out] in tfjs layout)", () => {
  const p = makeParams({ "fc.weight": { shape: [3, 4], seed: 10 }, "fc.bias": { shape: [4], seed: 11 } });
  const x = testValues(2 * 5 * 3, 12);
  const w = p.get("fc.weight")!.dataSync();
  const b = p.get("fc.bias")!.dataSync();
  const expected: number[] = [];
  for (let r = 0; r < 10; r++) for (let o = 0; o < 4; o++) {
    let s = b[o];
    for (let i = 0; i < 3; i++) s += x[r * 3 + i] * w[i * 4 + o];
    expected.push(s);
  }
  const xt = tf.tensor3d(x, [2, 5, 3]);
  const y = linear(p, "fc", xt);
  assert.deepEqual(y.shape, [2, 5, 4]);
  close(y.dataSync(), expected, 1e-6, "linear");
  y.dispose();
  noLeak(() => linear(p, "fc", xt));
  assert.throws(() => linear(p, "missing", xt), /missing parameter "missing.weight"/);
  assert.throws(() => param(p, "fc.gamma"), /missing parameter "fc.gamma"/);
  xt.dispose();
  disposeAll(p);
});

/** torch Conv2d on NHWC data with kernel [kh, kw, in, out]: explicit per-side zero padding, stride s. */
function convLoop(
  x: Float32Array,
  [B, H, W, C]: number[],
  w: Float32Array,
  [kh, kw, , O]: number[],
  bias: Float32Array,
  stride: number,
  [pt, pb, pl, pr]: number[],
): { y: number[]; shape: number[] } {
  const oh = Math.floor((H + pt + pb - kh) / stride) + 1;
  const ow = Math.floor((W + pl + pr - kw) / stride) + 1;
  const y: number[] = [];
  for (let b = 0; b < B; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let o = 0; o < O; o++) {
    let s = bias[o];
    for (let di = 0; di < kh; di++) for (let dj = 0; dj < kw; dj++) {
      const ii = i * stride + di - pt;
      const jj = j * stride + dj - pl;
      if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
      for (let c = 0; c < C; c++) s += x[((b * H + ii) * W + jj) * C + c] * w[((di * kw + dj) * C + c) * O + o];
    }
    y.push(s);
  }
  return { y, shape: [B, oh, ow, O] };
}

test("conv2d (3×3 padding 1, and 1×1 as a matrix product) equals torch's convolution", () => {
  const xs = [2, 5, 6, 3];
  const x = testValues(2 * 5 * 6 * 3, 13);
  const xt = tf.tensor4d(x, xs as [number, number, number, number]);
  for (const k of [3, 1]) {
    const p = makeParams({ "c.weight": { shape: [k, k, 3, 4], seed: 14 + k }, "c.bias": { shape: [4], seed: 20 + k } });
    const pad = (k - 1) / 2;
    const ref = convLoop(x, xs, p.get("c.weight")!.dataSync() as Float32Array, [k, k, 3, 4], p.get("c.bias")!.dataSync() as Float32Array, 1, [pad, pad, pad, pad]);
    const y = conv2d(p, "c", xt);
    assert.deepEqual(y.shape, ref.shape);
    close(y.dataSync(), ref.y, 1e-5, `conv ${k}×${k}`);
    y.dispose();
    noLeak(() => conv2d(p, "c", xt));
    disposeAll(p);
  }
  xt.dispose();
});

test("stride-2 conv pads like torch (1,1,1,1) and diffusers' VAE (0,1,0,1), unlike tfjs 'same'", () => {
  const xs = [1, 6, 6, 2];
  const x = testValues(72, 30);
  const xt = tf.tensor4d(x, [1, 6, 6, 2]);
  const p = makeParams({ "d.weight": { shape: [3, 3, 2, 3], seed: 31 }, "d.bias": { shape: [3], seed: 32 } });
  const w = p.get("d.weight")!.dataSync() as Float32Array;
  const b = p.get("d.bias")!.dataSync() as Float32Array;
  for (const pad of [
    [1, 1, 1, 1],
    [0, 1, 0, 1],
  ] as [number, number, number, number][]) {
    const ref = convLoop(x, xs, w, [3, 3, 2, 3], b, 2, pad);
    const y = conv2dStride2(p, "d", xt, pad);
    assert.deepEqual(y.shape, ref.shape);
    close(y.dataSync(), ref.y, 1e-5, `stride-2 conv pad ${pad}`);
    y.dispose();
    noLeak(() => conv2dStride2(p, "d", xt, pad));
  }
  // tfjs "same" for stride 2 on an even size pads (0 before, 1 after): not torch's padding=1.
  const same = tf.conv2d(xt, p.get("d.weight") as tf.Tensor4D, 2, "same");
  const ref = convLoop(x, xs, w, [3, 3, 2, 3], new Float32Array(3), 2, [1, 1, 1, 1]);
  const diff = Math.max(...Array.from(same.dataSync()).map((v, i) => Math.abs(v - ref.y[i])));
  assert.ok(diff > 1e-3, "tfjs 'same' unexpectedly matches torch padding=1; the explicit pad would be unnecessary");
  same.dispose();
  xt.dispose();
  disposeAll(p);
});

test("nearest ×2 upsampling repeats each pixel into a 2×2 block (torch mode='nearest')", () => {
  const x = testValues(2 * 3 * 2 * 2, 40);
  const xt = tf.tensor4d(x, [2, 3, 2, 2]);
  const y = upsampleNearest2x(xt);
  assert.deepEqual(y.shape, [2, 6, 4, 2]);
  const d = y.dataSync();
  for (let b = 0; b < 2; b++) for (let i = 0; i < 6; i++) for (let j = 0; j < 4; j++) for (let c = 0; c < 2; c++) {
    assert.equal(d[((b * 6 + i) * 4 + j) * 2 + c], x[((b * 3 + (i >> 1)) * 2 + (j >> 1)) * 2 + c]);
  }
  y.dispose();
  noLeak(() => upsampleNearest2x(xt));
  xt.dispose();
});

test("activations: SiLU, exact GELU and quick GELU at known points", () => {
  const xt = tf.tensor1d([-1, 0, 1, 2]);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  // Φ(1) = 0.8413447460685429, Φ(2) = 0.9772498680518208 (standard normal CDF tables)
  close(gelu(xt).dataSync(), [-1 * (1 - 0.8413447460685429), 0, 0.8413447460685429, 2 * 0.9772498680518208], 1e-6, "gelu");
  close(silu(xt).dataSync(), [-1, 0, 1, 2].map((z) => z * sig(z)), 1e-6, "silu");
  close(quickGelu(xt).dataSync(), [-1, 0, 1, 2].map((z) => z * sig(1.702 * z)), 1e-6, "quickGelu");
  noLeak(() => [gelu(xt), silu(xt), quickGelu(xt)]);
  xt.dispose();
});

test("measureFlops counts 2 × multiply-adds of convs, linears and attention", () => {
  const p = makeParams({
    "c.weight": { shape: [3, 3, 2, 4], seed: 50 },
    "c.bias": { shape: [4], seed: 51 },
    "fc.weight": { shape: [4, 6], seed: 52 },
    "fc.bias": { shape: [6], seed: 53 },
  });
  const xt = tf.zeros([2, 5, 5, 2]) as tf.Tensor4D;
  const { result, flops } = measureFlops(() =>
    tf.tidy(() => {
      const h = conv2d(p, "c", xt); // 2·(2·5·5)·9·2·4
      const t = tf.reshape(linear(p, "fc", h), [2, 25, 6]) as tf.Tensor3D; // 2·50·4·6
      return attention(t, t, t, 2); // 2·2·(2·2·25·25·3)
    }),
  );
  assert.equal(flops, 2 * 50 * 9 * 2 * 4 + 2 * 50 * 4 * 6 + 4 * 2 * 2 * 25 * 25 * 3);
  result.dispose();
  xt.dispose();
  disposeAll(p);
});

test("the im2col kernel gradient equals the backend's Conv2DBackpropFilter (stride 1 and 2, all pads)", () => {
  const p = makeParams({ "c.weight": { shape: [3, 3, 3, 5], seed: 60 }, "c.bias": { shape: [5], seed: 61 } });
  const x = tf.tensor4d(testValues(2 * 7 * 6 * 3, 62), [2, 7, 6, 3]);
  const w = p.get("c.weight")!;
  const b = p.get("c.bias")!;
  const cases: [string, () => tf.Tensor4D][] = [
    ["stride 1", () => conv2d(p, "c", x)],
    ["stride 2 pad 1", () => conv2dStride2(p, "c", x, [1, 1, 1, 1])],
    ["stride 2 pad (0,1,0,1)", () => conv2dStride2(p, "c", x, [0, 1, 0, 1])],
  ];
  const prev = getConvFilterGradient();
  try {
    for (const [what, f] of cases) {
      const run = (mode: "native" | "im2col") => {
        setConvFilterGradient(mode);
        const before = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(f(), tf.sin(tf.range(0, 5)))) as tf.Scalar, [w, b]);
        const xg = tf.grad((xx: tf.Tensor) => tf.sum(tf.square(conv2dStride2Or1(xx as tf.Tensor4D))))(x);
        const out = { v: value.dataSync()[0], gw: grads[w.name].dataSync(), gb: grads[b.name].dataSync(), gx: xg.dataSync() };
        tf.dispose([value, xg, ...Object.values(grads)]);
        assert.equal(tf.memory().numTensors, before, `${what} (${mode}): leaked tensors`);
        return out;
      };
      const conv2dStride2Or1 = (xx: tf.Tensor4D) => (what === "stride 1" ? conv2d(p, "c", xx) : conv2dStride2(p, "c", xx, what.includes("(0,1,0,1)") ? [0, 1, 0, 1] : [1, 1, 1, 1]));
      const a = run("native");
      const c = run("im2col");
      assert.ok(Math.abs(a.v - c.v) < 1e-5, `${what}: forward differs`);
      close(c.gw, a.gw, 1e-4, `${what}: kernel gradient`);
      close(c.gb, a.gb, 1e-4, `${what}: bias gradient`);
      close(c.gx, a.gx, 1e-4, `${what}: input gradient`);
    }
  } finally {
    setConvFilterGradient(prev);
  }
  assert.throws(() => setConvFilterGradient("fast" as never), /unknown mode "fast"; known: auto, native, im2col/);
  x.dispose();
  disposeAll(p);
});

test("embeddingLookup gathers rows; its gradient scatter-adds, summing repeated ids", () => {
  const table = tf.variable(tf.tensor2d(testValues(6 * 3, 70), [6, 3]));
  const ids = tf.tensor1d([4, 1, 4, 0], "int32");
  const rows = embeddingLookup(table, ids);
  const t = table.arraySync();
  assert.deepEqual(rows.arraySync(), [t[4], t[1], t[4], t[0]]);
  rows.dispose();
  const w = tf.tensor2d(testValues(4 * 3, 71), [4, 3]); // d loss / d rows
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(embeddingLookup(table, ids), w)) as tf.Scalar, [table]);
  const g = grads[table.name].arraySync() as number[][];
  const wa = w.arraySync() as number[][];
  const expected = [wa[3], wa[1], [0, 0, 0], [0, 0, 0], wa[0].map((v, i) => v + wa[2][i]), [0, 0, 0]];
  for (let r = 0; r < 6; r++) close(g[r], expected[r], 1e-6, `gradient row ${r}`);
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([table, ids, w]);
});
