/**
 * Golden tests against Hugging Face diffusers itself: tiny random `UNet2DConditionModel`s and
 * `AutoencoderKL`s saved by diffusers' `save_pretrained`, with fixed inputs and the outputs diffusers
 * computed from them (testdata/diffusers-golden/README.md says how they were made). Each model is read
 * as `loadStableDiffusion` reads a diffusers component folder (config parser, `readWeights`,
 * `paramsFromValues`), run through this project's forward passes on every backend CI has, and compared
 * with diffusers' outputs. The fixtures are NCHW (PyTorch); the project is NHWC (tfjs).
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { test } from "node:test";
import { initBackend } from "../backend";
import { readWeights } from "./weights";
import { parseUNetConfig, parseVaeConfig, UNetConfig, VaeConfig } from "./config";
import { disposeParams, paramsFromValues } from "./init";
import type { Params } from "./params";
import { unetForward, unetParamSpecs } from "./unet";
import { LatentDistribution, vaeCurrentName, vaeDecode, vaeEncode, vaeParamSpecs } from "./vae";

const ROOT = path.join(__dirname, "testdata", "diffusers-golden");
/** The backends CI runs the unit tests on. */
const BACKENDS = ["cpu", "wasm"] as const;
/** Largest relative L2 error ‖ours − diffusers‖ / ‖diffusers‖ accepted for any output. */
const TOLERANCE = 1e-5;
/** The negative checks must miss diffusers' outputs by at least this many times the tolerance. */
const NEGATIVE_MARGIN = 10;
/** The fixtures, by name: listed, not discovered, so a missing folder fails instead of testing less. */
const UNETS = ["unet_family", "unet_sd2_lpb2"] as const;
const VAES = ["vae_family", "vae_g4_lpb2"] as const;

interface GoldenArray {
  /** tfjs layout: NHWC for image-like arrays */
  shape: number[];
  data: Float32Array;
  /** the values in the file's order (NCHW for image-like arrays) */
  stored: Float32Array;
}
type Fixture = Map<string, GoldenArray>;
type UNet = { config: UNetConfig; params: Params };
type Vae = { config: VaeConfig; params: Params };

/** One fixture's arrays, as `manifest.json` lists them: raw little-endian float32, NCHW turned NHWC. */
function readFixture(name: string): Fixture {
  const dir = path.join(ROOT, "fixtures", name);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
    arrays: Record<string, { shape: number[]; layout: "NCHW" | "as-is" }>;
  };
  const out: Fixture = new Map();
  for (const [key, info] of Object.entries(manifest.arrays)) {
    const bytes = fs.readFileSync(path.join(dir, `${key}.f32`));
    const n = info.shape.reduce((a, b) => a * b, 1);
    assert.equal(bytes.length, 4 * n, `${name}/${key}.f32: ${bytes.length} bytes; [${info.shape}] needs ${4 * n}`);
    const stored = Float32Array.from({ length: n }, (_, i) => bytes.readFloatLE(4 * i));
    if (info.layout === "NCHW") out.set(key, { ...nchwToNhwc(stored, info.shape), stored });
    else out.set(key, { shape: info.shape, data: stored, stored });
  }
  return out;
}

/** PyTorch's [N, C, H, W] → tfjs's [N, H, W, C]. */
function nchwToNhwc(src: Float32Array, [N, C, H, W]: number[]): { shape: number[]; data: Float32Array } {
  const dst = new Float32Array(src.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) dst[((n * H + y) * W + x) * C + c] = src[((n * C + c) * H + y) * W + x];
  return { shape: [N, H, W, C], data: dst };
}

const tensor4d = (a: GoldenArray, data = a.data) => tf.tensor4d(data, a.shape as [number, number, number, number]);

/** A diffusers component folder, read as `loadStableDiffusion` reads its `unet/`. */
function loadUNet(name: string): UNet {
  const dir = path.join(ROOT, "models", name);
  const config = parseUNetConfig(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")));
  const specs = unetParamSpecs(config);
  return { config, params: paramsFromValues(specs, readWeights(dir, specs)) };
}

/** A diffusers component folder, read as `loadStableDiffusion` reads its `vae/`. */
function loadVae(name: string): Vae {
  const dir = path.join(ROOT, "models", name);
  const config = parseVaeConfig(JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")));
  const specs = vaeParamSpecs(config);
  return { config, params: paramsFromValues(specs, readWeights(dir, specs, { rename: vaeCurrentName })) };
}

/** The U-Net's output for a fixture's inputs, with the timesteps given (default: the fixture's). */
function runUNet(m: UNet, f: Fixture, timesteps = f.get("timesteps")!.data): tf.Tensor4D {
  const e = f.get("encoder_hidden_states")!;
  return tf.tidy(() => {
    const context = tf.tensor3d(e.data, e.shape as [number, number, number]);
    return unetForward(m.params, m.config, tensor4d(f.get("sample")!), tf.tensor1d(timesteps), context);
  });
}

function encode(m: Vae, f: Fixture): LatentDistribution {
  const image = tensor4d(f.get("image")!);
  const dist = vaeEncode(m.params, m.config, image);
  image.dispose();
  return dist;
}

const decode = (m: Vae, f: Fixture, latent = f.get("latent")!.data): tf.Tensor4D =>
  tf.tidy(() => vaeDecode(m.params, m.config, tensor4d(f.get("latent")!, latent)));

interface Miss {
  maxAbs: number;
  relL2: number;
}

/** How far `t` (disposed here) is from `expected`: max absolute and relative L2 error, in float64. */
async function missOf(t: tf.Tensor, expected: GoldenArray): Promise<Miss> {
  assert.deepEqual(t.shape, expected.shape);
  const got = (await t.data()) as Float32Array;
  t.dispose();
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i] - expected.data[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += expected.data[i] ** 2;
  }
  return { maxAbs, relL2: Math.sqrt(num / den) }; // a NaN anywhere makes relL2 NaN, which fails `≤`
}

const show = (e: Miss) => `max abs ${e.maxAbs.toExponential(2)}, relative L2 ${e.relL2.toExponential(2)}`;

/** The golden tests' one assertion: within TOLERANCE relative L2 of diffusers' output. */
function assertMatches(what: string, e: Miss): void {
  assert.ok(e.relL2 <= TOLERANCE, `${what}: ${show(e)} against diffusers; tolerance ${TOLERANCE} relative L2`);
}

/** Adds `relative`·|v| to element `index` of parameter `name`: a change to one weight. */
function perturb(params: Params, name: string, index: number, relative: number): void {
  const v = params.get(name);
  assert.ok(v, `no parameter ${name}`);
  const data = Float32Array.from(v.dataSync() as Float32Array);
  assert.notEqual(data[index], 0, `${name}[${index}] is zero; a relative change would leave it unchanged`);
  data[index] += relative * Math.abs(data[index]);
  const t = tf.tensor(data, v.shape);
  v.assign(t);
  t.dispose();
}

for (const backend of BACKENDS) {
  for (const name of UNETS) {
    test(`${name} on ${backend}: the U-Net's output is diffusers' within ${TOLERANCE.toExponential()} rel. L2; no leaks`, async (t) => {
      await initBackend({ prefer: backend, log: () => {} });
      assert.equal(tf.getBackend(), backend);
      const before = tf.memory().numTensors;
      const f = readFixture(name);
      const m = loadUNet(name);
      const loaded = tf.memory().numTensors;
      const e = await missOf(runUNet(m, f), f.get("out")!);
      t.diagnostic(`${name} on ${backend}, out: ${show(e)}`);
      assertMatches(`${name} on ${backend}, out`, e);
      assert.equal(tf.memory().numTensors, loaded, "the forward pass leaves no tensors behind");
      disposeParams(m.params);
      assert.equal(tf.memory().numTensors, before, "loading and disposing the model leaves no tensors behind");
    });
  }

  for (const name of VAES) {
    test(`${name} on ${backend}: posterior and decoding are diffusers' within ${TOLERANCE.toExponential()} rel. L2`, async (t) => {
      await initBackend({ prefer: backend, log: () => {} });
      assert.equal(tf.getBackend(), backend);
      const before = tf.memory().numTensors;
      const f = readFixture(name);
      const m = loadVae(name);
      const loaded = tf.memory().numTensors;
      const dist = encode(m, f);
      const misses: [string, Miss][] = [
        ["mean", await missOf(dist.mean, f.get("mean")!)],
        ["logvar", await missOf(dist.logvar, f.get("logvar")!)],
        ["decoded", await missOf(decode(m, f), f.get("decoded")!)],
      ];
      for (const [what, e] of misses) t.diagnostic(`${name} on ${backend}, ${what}: ${show(e)}`);
      for (const [what, e] of misses) assertMatches(`${name} on ${backend}, ${what}`, e);
      assert.equal(tf.memory().numTensors, loaded, "encoding and decoding leave no tensors behind");
      disposeParams(m.params);
      assert.equal(tf.memory().numTensors, before, "loading and disposing the model leaves no tensors behind");
    });
  }
}

/**
 * The golden tests can fail: small wrong changes make the same assertion throw, by a wide margin.
 * One weight changed by 1 % (one of a model's 62 thousand to 1.1 million values), the batch's two
 * timesteps swapped, and an NCHW latent fed to the decoder as if it were NHWC.
 */
for (const backend of BACKENDS) {
  test(`negative checks on ${backend}: a weight off by 1 %, swapped timesteps, NCHW as NHWC all fail`, async (t) => {
    await initBackend({ prefer: backend, log: () => {} });
    const before = tf.memory().numTensors;
    const misses = (what: string, e: Miss) => {
      t.diagnostic(`${what} on ${backend}: ${show(e)}`);
      assert.throws(() => assertMatches(what, e), /tolerance/, `${what}: ${show(e)} passes the golden assertion`);
      const floor = NEGATIVE_MARGIN * TOLERANCE;
      assert.ok(e.relL2 > floor, `${what}: ${show(e)}; expected above ${floor}`);
    };
    for (const name of UNETS) {
      const f = readFixture(name);
      const m = loadUNet(name);
      const [t0, t1] = f.get("timesteps")!.data;
      misses(`${name}, timesteps swapped`, await missOf(runUNet(m, f, Float32Array.of(t1, t0)), f.get("out")!));
      perturb(m.params, "conv_in.bias", 0, 0.01);
      misses(`${name}, conv_in.bias[0] × 1.01`, await missOf(runUNet(m, f), f.get("out")!));
      disposeParams(m.params);
    }
    for (const name of VAES) {
      const f = readFixture(name);
      const m = loadVae(name);
      misses(`${name}, latent left NCHW`, await missOf(decode(m, f, f.get("latent")!.stored), f.get("decoded")!));
      perturb(m.params, "decoder.conv_in.bias", 0, 0.01);
      misses(`${name}, decoder.conv_in.bias[0] × 1.01`, await missOf(decode(m, f), f.get("decoded")!));
      perturb(m.params, "encoder.conv_in.bias", 0, 0.01);
      const dist = encode(m, f);
      dist.logvar.dispose();
      misses(`${name}, encoder.conv_in.bias[0] × 1.01 (mean)`, await missOf(dist.mean, f.get("mean")!));
      disposeParams(m.params);
    }
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  });
}
