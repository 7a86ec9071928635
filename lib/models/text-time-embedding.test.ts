import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { initBackend } from "../backend";
import { ConfigError, parseUNetConfig, UNetConfig } from "./config";
import { shippedRawConfigs } from "./configs";
import { disposeParams, initKind, initParams, initValues } from "./init";
import { measureFlops } from "./layers";
import { countParams, ParamSpec, Params, torchShape } from "./params";
import { unetForwardFlops } from "./components";
import { SpecBuilder } from "./spec-builder";
import { hashTensor, testValues } from "./fixtures/testing";
import { attentionPooling, attentionPoolingSpecs, textTimeEmbedding, textTimeEmbeddingSpecs, unetForward, unetParamSpecs, unetTimeEmbedDim } from "./unet";

before(async () => {
  await tf.setBackend("cpu");
});

/** The shipped tiny U-Net config without its text embedding (the plain SD 1.x structure). */
const rawTiny = () => {
  const { addition_embed_type: _t, addition_embed_type_num_heads: _h, ...rest } = shippedRawConfigs("tiny").unet as Record<string, unknown>;
  return rest;
};
const plain = parseUNetConfig(rawTiny());
const HEADS = 4;
const withText = parseUNetConfig({ ...rawTiny(), addition_embed_type: "text", addition_embed_type_num_heads: HEADS });

function unetInputs(B: number, H: number, S: number, seed: number) {
  const C = plain.in_channels;
  const D = plain.cross_attention_dim;
  return {
    sample: tf.tensor4d(testValues(B * H * H * C, seed), [B, H, H, C]),
    timesteps: tf.tensor1d(Array.from({ length: B }, (_, i) => 700 - 300 * i)),
    context: tf.tensor3d(testValues(B * S * D, seed + 1), [B, S, D]),
  };
}

/** Overwrites every parameter with deterministic values in [−scale, scale): non-zero biases, non-unit norms. */
function randomize(params: Params, seed: number, scale = 1): void {
  let k = 0;
  for (const v of params.values()) {
    const vals = testValues(v.size, seed + 7919 * k++).map((x) => x * scale);
    v.assign(tf.tensor(vals, v.shape));
  }
}

test("addition_embed_type \"text\": exactly diffusers' add_embedding.* parameters, with torch shapes and the expected count", () => {
  const W = withText.cross_attention_dim;
  const T = unetTimeEmbedDim(withText);
  assert.equal(T, 4 * withText.block_out_channels[0]);
  const base = unetParamSpecs(plain);
  const text = unetParamSpecs(withText);
  const baseNames = new Set(base.map((s) => s.name));
  const extra = text.filter((s) => !baseNames.has(s.name));
  const expected: [string, number[]][] = [
    ["add_embedding.norm1.weight", [W]],
    ["add_embedding.norm1.bias", [W]],
    ["add_embedding.pool.positional_embedding", [1, W]],
    ["add_embedding.pool.k_proj.weight", [W, W]],
    ["add_embedding.pool.k_proj.bias", [W]],
    ["add_embedding.pool.q_proj.weight", [W, W]],
    ["add_embedding.pool.q_proj.bias", [W]],
    ["add_embedding.pool.v_proj.weight", [W, W]],
    ["add_embedding.pool.v_proj.bias", [W]],
    ["add_embedding.proj.weight", [T, W]],
    ["add_embedding.proj.bias", [T]],
    ["add_embedding.norm2.weight", [T]],
    ["add_embedding.norm2.bias", [T]],
  ];
  assert.deepEqual(
    extra.map((s) => [s.name, torchShape(s)]),
    expected,
  );
  // linear weights use the linear layout (torch out×in, tfjs in×out), like every other linear layer
  for (const s of extra) assert.equal(s.layout, s.name.endsWith("proj.weight") ? "linear" : "same", s.name);
  // everything else is unchanged, in the same order; add_embedding follows time_embedding as in diffusers' state dict
  assert.deepEqual(
    text.filter((s) => baseNames.has(s.name)),
    base,
  );
  assert.equal(text.findIndex((s) => s.name.startsWith("add_embedding.")), text.findIndex((s) => s.name === "time_embedding.linear_2.bias") + 1);
  const growth = 2 * W + W + 3 * (W * W + W) + (W * T + T) + 2 * T;
  assert.equal(countParams(text) - countParams(base), growth);
  // null and absent are the same config and the same specs
  assert.deepEqual(parseUNetConfig({ ...rawTiny(), addition_embed_type: null }), plain);
  assert.equal(plain.addition_embed_type, null);
  // positional_embedding: N(0, 1/dim) as diffusers' randn(1, dim) / √dim
  const pe = extra.find((s) => s.name.endsWith("positional_embedding"))!;
  assert.equal(initKind(pe), "normal-1/sqrt(dim)");
  const big: ParamSpec = { name: "add_embedding.pool.positional_embedding", shape: [1, 4096], layout: "same" };
  const v = initValues(big, 0);
  const std = Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
  assert.ok(Math.abs(std * Math.sqrt(4096) - 1) < 0.05, `positional_embedding std ${std}, expected ${1 / 64}`);
});

// ---------------------------------------------------------------------------------------------
// float64 references (plain loops)

type Mat = number[][];
const row = (t: tf.Tensor) => Array.from(t.dataSync());

/** torch Linear with the tfjs-layout weight w [in, out] (flat) and bias b. */
function refLinear(x: number[], w: number[], b: number[], inF: number, outF: number): number[] {
  const y = new Array<number>(outF).fill(0);
  for (let o = 0; o < outF; o++) {
    let s = b[o];
    for (let i = 0; i < inF; i++) s += x[i] * w[i * outF + o];
    y[o] = s;
  }
  return y;
}

function refLayerNorm(x: number[], g: number[], b: number[], eps: number): number[] {
  const n = x.length;
  const mean = x.reduce((a, v) => a + v, 0) / n;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
}

/** diffusers AttentionPooling for one sample x [L][W]: the class token's output [W]. */
function refAttentionPooling(params: Params, p: string, x: Mat, heads: number): number[] {
  const L = x.length;
  const W = x[0].length;
  const d = W / heads;
  const get = (n: string) => row(params.get(`${p}.${n}`)!);
  const pos = get("positional_embedding");
  const cls = pos.map((pe, j) => x.reduce((a, r) => a + r[j], 0) / L + pe);
  const tokens = [cls, ...x];
  const q = refLinear(cls, get("q_proj.weight"), get("q_proj.bias"), W, W);
  const k = tokens.map((t) => refLinear(t, get("k_proj.weight"), get("k_proj.bias"), W, W));
  const v = tokens.map((t) => refLinear(t, get("v_proj.weight"), get("v_proj.bias"), W, W));
  const scale = 1 / Math.sqrt(Math.sqrt(d));
  const out = new Array<number>(W).fill(0);
  for (let h = 0; h < heads; h++) {
    const scores = k.map((kt) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[h * d + c] * scale * (kt[h * d + c] * scale);
      return s;
    });
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, b) => a + b, 0);
    for (let c = 0; c < d; c++) out[h * d + c] = e.reduce((a, ej, j) => a + (ej / z) * v[j][h * d + c], 0);
  }
  return out;
}

function refTextTimeEmbedding(params: Params, p: string, x: Mat, heads: number, T: number): number[] {
  const get = (n: string) => row(params.get(`${p}.${n}`)!);
  const W = x[0].length;
  const normed = x.map((r) => refLayerNorm(r, get("norm1.weight"), get("norm1.bias"), 1e-5));
  const pooled = refAttentionPooling(params, `${p}.pool`, normed, heads);
  return refLayerNorm(refLinear(pooled, get("proj.weight"), get("proj.bias"), W, T), get("norm2.weight"), get("norm2.bias"), 1e-5);
}

function maxAbsDiff(got: tf.Tensor, want: number[][]): number {
  const g = got.dataSync();
  const flat = want.flat();
  assert.equal(g.length, flat.length);
  let worst = 0;
  flat.forEach((w, i) => (worst = Math.max(worst, Math.abs(g[i] - w))));
  return worst;
}

test("AttentionPooling and TextTimeEmbedding equal a float64 reference of diffusers' formulas within 1e-5", () => {
  const [B, L, W, T] = [2, 5, 16, 24];
  const s = new SpecBuilder();
  attentionPoolingSpecs(s, "pool", W);
  textTimeEmbeddingSpecs(s, "tte", W, T);
  const params = initParams(s.specs, 0);
  randomize(params, 5, 0.5);
  const xs = testValues(B * L * W, 9);
  const x = tf.tensor3d(xs, [B, L, W]);
  const samples: Mat[] = Array.from({ length: B }, (_, b) => Array.from({ length: L }, (_, l) => Array.from(xs.subarray((b * L + l) * W, (b * L + l + 1) * W))));
  const before = tf.memory().numTensors;
  const pooled = attentionPooling(params, "pool", x, HEADS);
  const emb = textTimeEmbedding(params, "tte", x, HEADS);
  assert.equal(tf.memory().numTensors, before + 2, "temporaries left behind");
  assert.deepEqual(pooled.shape, [B, W]);
  assert.deepEqual(emb.shape, [B, T]);
  const dPool = maxAbsDiff(pooled, samples.map((m) => refAttentionPooling(params, "pool", m, HEADS)));
  assert.ok(dPool <= 1e-5, `attention pooling differs from the reference by ${dPool}`);
  const dEmb = maxAbsDiff(emb, samples.map((m) => refTextTimeEmbedding(params, "tte", m, HEADS, T)));
  assert.ok(dEmb <= 1e-5, `text-time embedding differs from the reference by ${dEmb}`);
  // one head and one feature per head are both valid splits
  for (const h of [1, W]) {
    const out = attentionPooling(params, "pool", x, h);
    const d = maxAbsDiff(out, samples.map((m) => refAttentionPooling(params, "pool", m, h)));
    assert.ok(d <= 1e-5, `${h} heads: differs by ${d}`);
    out.dispose();
  }
  assert.throws(() => attentionPooling(params, "pool", x, 3), /width 16 is not divisible by 3 heads/);
  tf.dispose([x, pooled, emb]);
  disposeParams(params);
});

test("with cross-attention's output zeroed, the text still changes the U-Net's output through add_embedding (and only then)", () => {
  const params = initParams(unetParamSpecs(withText), 3);
  let zeroed = 0;
  for (const [name, v] of params) {
    if (/\.attn2\.to_out\.0\.(weight|bias)$/.test(name)) {
      v.assign(tf.zerosLike(v));
      zeroed++;
    }
  }
  assert.ok(zeroed > 0 && zeroed % 2 === 0, `${zeroed} cross-attention output parameters zeroed`);
  const { sample, timesteps, context } = unetInputs(1, 4, 6, 11);
  const other = tf.tensor3d(testValues(context.size, 99), context.shape);
  const t1 = unetForward(params, withText, sample, timesteps, context);
  const t2 = unetForward(params, withText, sample, timesteps, other);
  // the same parameters without add_embedding: the plain U-Net reads none of add_embedding.*
  const p1 = unetForward(params, plain, sample, timesteps, context);
  const p2 = unetForward(params, plain, sample, timesteps, other);
  assert.equal(hashTensor(p1), hashTensor(p2), "without addition_embed_type, zeroed cross-attention should make the text irrelevant");
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(t1, t2))).dataSync()[0]);
  assert.ok(diff > 1e-4, `with addition_embed_type "text", two texts gave outputs within ${diff}`);
  assert.notEqual(hashTensor(t1), hashTensor(p1), "the text embedding changed nothing");
  tf.dispose([sample, timesteps, context, other, t1, t2, p1, p2]);
  disposeParams(params);
});

test("addition_embed_type: bad head counts and unknown types are config errors naming the values", () => {
  const raw = rawTiny();
  assert.throws(
    () => parseUNetConfig({ ...raw, addition_embed_type: "text", addition_embed_type_num_heads: 5 }),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /"addition_embed_type_num_heads" = 5 does not divide "cross_attention_dim" = 64/);
      return true;
    },
  );
  assert.throws(() => parseUNetConfig({ ...raw, addition_embed_type: "text", addition_embed_type_num_heads: 0 }), /"addition_embed_type_num_heads" = 0 is not supported/);
  for (const t of ["image", "text_time", "text_image"]) {
    assert.throws(() => parseUNetConfig({ ...raw, addition_embed_type: t }), new RegExp(`"addition_embed_type" = "${t}" is not supported; supported: null, "text"`));
  }
  // configs built by hand get the same checks in the specs and the forward pass
  const bad: UNetConfig = { ...withText, addition_embed_type_num_heads: 6 };
  assert.throws(() => unetParamSpecs(bad), /"addition_embed_type_num_heads" = 6 does not divide "cross_attention_dim" = 64/);
  assert.throws(() => unetForwardFlops(bad, { height: 4, width: 4, batch: 1 }), /= 6 does not divide/);
  assert.throws(() => unetParamSpecs({ ...plain, addition_embed_type: "image" as never }), /"addition_embed_type" = "image" is not supported; supported: null, "text"/);
  // diffusers' default of 64 heads divides this cross_attention_dim (64); with the type null the head count is unused
  assert.equal(parseUNetConfig({ ...raw, addition_embed_type: "text" }).addition_embed_type_num_heads, 64);
  assert.equal(parseUNetConfig({ ...raw, addition_embed_type: null, addition_embed_type_num_heads: 5 }).addition_embed_type, null);
});

test("text U-Net: a forward pass under tidy leaks nothing; every add_embedding parameter gets a gradient", () => {
  const params = initParams(unetParamSpecs(withText), 4);
  const { sample, timesteps, context } = unetInputs(2, 4, 5, 21);
  const target = tf.tensor4d(testValues(sample.size, 22), sample.shape);
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const out = unetForward(params, withText, sample, timesteps, context);
    assert.deepEqual(out.shape, sample.shape);
    assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
  });
  assert.equal(tf.memory().numTensors, before, "tensors left after a forward pass under tidy");

  const names = [...params.keys()].filter((n) => n.startsWith("add_embedding."));
  assert.equal(names.length, 13);
  const vars = names.map((n) => params.get(n)!);
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(unetForward(params, withText, sample, timesteps, context), target)) as tf.Scalar, vars);
  const norms = new Map(names.map((n, i) => [n, Math.sqrt(tf.tidy(() => tf.sum(tf.square(grads[vars[i].name])).dataSync()[0]))]));
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before, "tensors left after a forward + backward pass");
  const total = Math.sqrt([...norms.values()].reduce((a, n) => a + n * n, 0));
  for (const [n, g] of norms) {
    assert.ok(Number.isFinite(g), `${n}: gradient norm ${g}`);
    if (n === "add_embedding.pool.k_proj.bias") {
      // Adding the same vector to every key adds q·b to every score, which softmax ignores: this
      // gradient is 0 in exact arithmetic (as for every attention's key bias); only round-off is left.
      assert.ok(g < 1e-4 * total, `${n}: gradient norm ${g} should be round-off (total ${total})`);
    } else {
      assert.ok(g > 1e-6 * total && g > 0, `${n}: gradient norm ${g} (total ${total})`);
    }
  }
  tf.dispose([sample, timesteps, context, target]);
  disposeParams(params);
});

test("the analytic U-Net FLOP count includes the text embedding and equals what the forward pass executes", () => {
  const params = initParams(unetParamSpecs(withText), 0);
  const [B, H, W, S] = [2, 4, 8, 7];
  const sample = tf.zeros([B, H, W, withText.in_channels]) as tf.Tensor4D;
  const timesteps = tf.zeros([B]);
  const context = tf.zeros([B, S, 64]) as tf.Tensor3D;
  const { result, flops } = measureFlops(() => unetForward(params, withText, sample, timesteps, context));
  const D = withText.cross_attention_dim;
  const extra = unetForwardFlops(withText, { height: H, width: W, batch: B, seqLen: S }) - unetForwardFlops(plain, { height: H, width: W, batch: B, seqLen: S });
  assert.equal(extra, 2 * B * D * D + 2 * 2 * B * (S + 1) * D * D + 4 * B * (S + 1) * D + 2 * B * D * unetTimeEmbedDim(withText));
  assert.equal(unetForwardFlops(withText, { height: H, width: W, batch: B, seqLen: S }), flops);
  tf.dispose([result, sample, timesteps, context]);
  disposeParams(params);
});

test("text-time embedding: output and gradients on wasm equal the cpu backend's", async () => {
  const [B, L, W, T] = [2, 7, 64, 256];
  const s = new SpecBuilder();
  textTimeEmbeddingSpecs(s, "add_embedding", W, T);
  const run = async (backend: "wasm" | "cpu") => {
    await initBackend({ prefer: backend, log: () => {} });
    const p = initParams(s.specs, 2);
    const vars = s.specs.map((sp) => p.get(sp.name)!);
    const x = tf.tensor3d(testValues(B * L * W, 3), [B, L, W]);
    const wts = tf.tensor2d(testValues(B * T, 4), [B, T]);
    const out = textTimeEmbedding(p, "add_embedding", x, HEADS);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(textTimeEmbedding(p, "add_embedding", x, HEADS), wts)) as tf.Scalar, vars);
    const res = { out: Float32Array.from(out.dataSync()), grads: vars.map((v) => Float32Array.from(grads[v.name].dataSync())) };
    tf.dispose([x, wts, out, value, ...Object.values(grads)]);
    disposeParams(p);
    return res;
  };
  try {
    const w = await run("wasm");
    const c = await run("cpu");
    const d = w.out.reduce((m, v, i) => Math.max(m, Math.abs(v - c.out[i])), 0);
    assert.ok(d <= 1e-5, `outputs differ by ${d}`);
    s.specs.forEach((sp, i) => {
      const d = w.grads[i].reduce((m, v, k) => Math.max(m, Math.abs(v - c.grads[i][k])), 0);
      assert.ok(d <= 1e-4, `${sp.name}: gradients differ by ${d}`);
    });
  } finally {
    await tf.setBackend("cpu");
  }
});
