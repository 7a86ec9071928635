/**
 * The diffusers golden outputs through the oneDNN kernels (lib/kernels/native): tiny random
 * `UNet2DConditionModel`s and `AutoencoderKL`s saved by diffusers, with fixed inputs and the outputs
 * diffusers computed (testdata/diffusers-golden), run on wasm with its heavy kernels on oneDNN, within
 * the tolerance the cpu and wasm backends meet; the same models with the wasm kernels alone agree too,
 * so the two paths are checked against the same reference. The fixtures are NCHW (PyTorch); the
 * project is NHWC. Without the addon these are reported as skipped with the reason; with
 * DREAMBOOTH_REQUIRE_NATIVE=1 (CI) they fail instead.
 */
import * as fs from "fs";
import * as path from "path";
import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { readWeights } from "./weights";
import { oneDnnAddon, oneDnnStatus, setOneDnnEnabled, type OneDnnAddon } from "../kernels/native";
import { parseUNetConfig, parseVaeConfig } from "./config";
import { disposeParams, paramsFromValues } from "./init";
import { unetForward, unetParamSpecs } from "./unet";
import { disposeDistribution, vaeCurrentName, vaeDecode, vaeEncode, vaeParamSpecs } from "./vae";

const ROOT = path.join(__dirname, "testdata", "diffusers-golden");
/** Largest relative L2 error ‖ours − diffusers‖ / ‖diffusers‖ accepted for any output (as on cpu, wasm). */
const TOLERANCE = 1e-5;
const UNETS = ["unet_family", "unet_sd2_lpb2"];
const VAES = ["vae_family", "vae_g4_lpb2"];

const addon = oneDnnAddon();
const skip =
  addon || process.env.DREAMBOOTH_REQUIRE_NATIVE === "1"
    ? false
    : `the oneDNN addon is not loaded here (${oneDnnStatus().why})`;

interface GoldenArray {
  shape: number[];
  data: Float32Array;
}

/** A fixture's arrays (manifest.json lists them), little-endian float32, NCHW ones turned NHWC. */
function readFixture(name: string): Map<string, GoldenArray> {
  const dir = path.join(ROOT, "fixtures", name);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8")) as {
    arrays: Record<string, { shape: number[]; layout: string }>;
  };
  const out = new Map<string, GoldenArray>();
  for (const [key, info] of Object.entries(manifest.arrays)) {
    const bytes = fs.readFileSync(path.join(dir, `${key}.f32`));
    const n = info.shape.reduce((a, b) => a * b, 1);
    assert.equal(
      bytes.length,
      4 * n,
      `${name}/${key}.f32 has ${bytes.length} bytes; shape [${info.shape}] needs ${4 * n}`,
    );
    const src = new Float32Array(n);
    for (let i = 0; i < n; i++) src[i] = bytes.readFloatLE(4 * i);
    if (info.layout !== "NCHW") {
      out.set(key, { shape: info.shape, data: src });
      continue;
    }
    const [N, C, H, W] = info.shape;
    const dst = new Float32Array(n);
    for (let b = 0; b < N; b++)
      for (let c = 0; c < C; c++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) dst[((b * H + y) * W + x) * C + c] = src[((b * C + c) * H + y) * W + x];
    out.set(key, { shape: [N, H, W, C], data: dst });
  }
  return out;
}

/** ‖t − expected‖ / ‖expected‖ in float64 (t disposed); a NaN fails every comparison. */
function relL2(t: tf.Tensor, expected: GoldenArray): number {
  assert.deepEqual(t.shape, expected.shape);
  const got = t.dataSync() as Float32Array;
  t.dispose();
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    num += (got[i] - expected.data[i]) ** 2;
    den += expected.data[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const t4 = (a: GoldenArray) => tf.tensor4d(a.data, a.shape as [number, number, number, number]);

/** Every output of fixture `name` against diffusers', by output name. */
function misses(name: string): Map<string, number> {
  const f = readFixture(name);
  const dir = path.join(ROOT, "models", name);
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
  const out = new Map<string, number>();
  if (UNETS.includes(name)) {
    const c = parseUNetConfig(config);
    const specs = unetParamSpecs(c);
    const params = paramsFromValues(specs, readWeights(dir, specs));
    const e = f.get("encoder_hidden_states")!;
    const y = tf.tidy(() =>
      unetForward(
        params,
        c,
        t4(f.get("sample")!),
        tf.tensor1d(f.get("timesteps")!.data),
        tf.tensor3d(e.data, e.shape as [number, number, number]),
      ),
    );
    out.set("out", relL2(y, f.get("out")!));
    disposeParams(params);
  } else {
    const c = parseVaeConfig(config);
    const specs = vaeParamSpecs(c);
    const params = paramsFromValues(specs, readWeights(dir, specs, { rename: vaeCurrentName }));
    const image = t4(f.get("image")!);
    const dist = vaeEncode(params, c, image);
    out.set("mean", relL2(dist.mean.clone(), f.get("mean")!));
    out.set("logvar", relL2(dist.logvar.clone(), f.get("logvar")!));
    disposeDistribution(dist);
    image.dispose();
    out.set(
      "decoded",
      relL2(
        tf.tidy(() => vaeDecode(params, c, t4(f.get("latent")!))),
        f.get("decoded")!,
      ),
    );
    disposeParams(params);
  }
  return out;
}

for (const name of [...UNETS, ...VAES]) {
  test(
    `${name}: diffusers' outputs within ${TOLERANCE} relative L2 through the oneDNN kernels and the wasm kernels`,
    { skip },
    async (t) => {
      assert.ok(addon, `the oneDNN addon is required (DREAMBOOTH_REQUIRE_NATIVE=1) but ${oneDnnStatus().why}`);
      await initBackend({ prefer: "wasm", log: () => {} });
      const before = tf.memory().numTensors;
      // count the addon's calls, so that a silent fallback to the wasm kernels cannot pass for oneDNN
      const a = addon as unknown as Record<keyof OneDnnAddon, (...args: unknown[]) => unknown>;
      const kinds = ["convForward", "matMul"] as const;
      const saved = kinds.map((k) => a[k]);
      let calls = 0;
      kinds.forEach((k, i) => (a[k] = (...args: unknown[]) => (calls++, saved[i](...args))));
      let on: Map<string, number>;
      try {
        on = misses(name);
      } finally {
        kinds.forEach((k, i) => (a[k] = saved[i]));
      }
      setOneDnnEnabled(false);
      let off: Map<string, number>;
      try {
        off = misses(name);
      } finally {
        setOneDnnEnabled(true);
      }
      for (const [what, e] of on)
        t.diagnostic(
          `${name} ${what}: oneDNN ${e.toExponential(2)}, wasm ${off.get(what)!.toExponential(2)} relative L2`,
        );
      assert.ok(calls > 0, "the oneDNN kernels ran");
      for (const [what, e] of on)
        assert.ok(
          e <= TOLERANCE,
          `${name} ${what} through oneDNN: ${e.toExponential(2)} relative L2 against diffusers`,
        );
      for (const [what, e] of off)
        assert.ok(
          e <= TOLERANCE,
          `${name} ${what} through the wasm kernels: ${e.toExponential(2)} relative L2 against diffusers`,
        );
      assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    },
  );
}
