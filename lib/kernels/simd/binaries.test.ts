import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../../backend";
import { registerTrainingKernels } from "../index";
import { groupNorm } from "../../models/layers";
import { gemmModule, groupNormModule, reduceModule, transposeModule } from "./modules";

test("lib/kernels/simd/binaries.ts is what scripts/build-wasm.cjs assembles from the .wat sources (not stale)", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generate, out } = require("../../../scripts/build-wasm.cjs") as {
    generate: () => Promise<string>;
    out: string;
  };
  const fresh = await generate();
  assert.ok(fresh.includes("export const groupnorm = "), "no groupnorm module assembled");
  assert.equal(fs.readFileSync(out, "utf8"), fresh, "binaries.ts is stale: run node scripts/build-wasm.cjs");
});

test("SimdModule.reserve: true within reach, false (not a throw) beyond a wasm32 memory's 4 GB; the module works after", async () => {
  const mod = groupNormModule();
  assert.equal(mod.reserve(1 << 20), true);
  assert.equal(mod.reserve(5 * 2 ** 30), false);
  assert.ok(mod.f32.length >= (1 << 20) / 4);
});

test("each SIMD kernel falls back to its other path, with the same result, when the module's memory cannot grow", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  registerTrainingKernels();
  const x = tf.tensor4d(
    Float32Array.from({ length: 2 * 8 * 8 * 16 }, (_, i) => Math.sin(i)),
    [2, 8, 8, 16],
  );
  const q = tf.tensor3d(
    Float32Array.from({ length: 4 * 20 * 8 }, (_, i) => Math.cos(i)),
    [4, 20, 8],
  );
  const run = (): number[][] => {
    const outs = tf.tidy(() => [
      groupNorm(x, tf.ones([16]), tf.zeros([16]), 4, 1e-5, { silu: true }),
      tf.grad((v: tf.Tensor) =>
        tf.sum(groupNorm(v as tf.Tensor4D, tf.ones([16]), tf.zeros([16]), 4, 1e-5, { silu: true })),
      )(x),
      tf.matMul(q, q, false, true),
      tf.transpose(x, [0, 3, 1, 2]),
      tf.sum(x, [0, 1, 2]),
    ]);
    const values = outs.map((t) => Array.from(t.dataSync()));
    tf.dispose(outs);
    return values;
  };
  const withSimd = run();
  const all = [groupNormModule(), gemmModule(), transposeModule(), reduceModule()];
  const saved = all.map((m) => m.reserve);
  all.forEach((m) => (m.reserve = () => false));
  let without: number[][];
  try {
    without = run();
  } finally {
    all.forEach((m, i) => (m.reserve = saved[i]));
  }
  ["groupNorm", "its gradient", "batched product", "transpose", "bias sum"].forEach((what, i) => {
    const a = withSimd[i];
    const b = without[i];
    const err = Math.max(...a.map((v, k) => Math.abs(v - b[k]))) / Math.max(...b.map(Math.abs));
    assert.ok(err < 1e-5, `${what}: relative difference ${err}`);
  });
  tf.dispose([x, q]);
});
