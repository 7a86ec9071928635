import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { groupNorm, setFusedGroupNorm } from "../models/layers";
import { fastExp, hasFusedGroupNorm, setSimdGroupNorm } from "./groupnorm";
import { simdSupported } from "./simd/modules";
import { fixedRandom, relErr } from "./test-util";

/** Outputs and gradients (of Σ y·r for a fixed r) w.r.t. x, γ, β, with the fused kernel on or off. */
function run(shape: [number, number, number, number], groups: number, silu: boolean, fused: boolean): Float32Array[] {
  setFusedGroupNorm(fused);
  try {
    const C = shape[3];
    const n = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor4d(
      fixedRandom(n, 1).map((v, i) => 3 * v + (i % 7) - 2),
      shape,
    );
    const g = tf.tensor1d(fixedRandom(C, 2).map((v) => 1 + v));
    const b = tf.tensor1d(fixedRandom(C, 3));
    const r = tf.tensor4d(fixedRandom(n, 4), shape);
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(groupNorm(xx as tf.Tensor4D, gg, bb, groups, 1e-5, { silu }), r)) as tf.Scalar;
    const y = tf.tidy(() => groupNorm(x, g, b, groups, 1e-5, { silu }));
    const grads = tf.grads(f)([x, g, b]);
    const out = [y, ...grads].map((t) => t.dataSync() as Float32Array);
    tf.dispose([x, g, b, r, y, ...grads]);
    return out;
  } finally {
    setFusedGroupNorm(true);
  }
}

for (const backend of ["cpu", "wasm"]) {
  test(`fused GroupNorm (+SiLU) on ${backend}: output and gradients equal the tfjs-op composition within 1e-5, no leaks`, async () => {
    await tf.setBackend(backend);
    assert.ok(hasFusedGroupNorm(), `no fused kernel on ${backend}`);
    for (const [shape, groups] of [
      [[2, 4, 5, 8], 4],
      [[3, 3, 3, 6], 1],
      [[1, 2, 2, 12], 12],
      [[2, 8, 8, 64], 32],
    ] as [[number, number, number, number], number][]) {
      for (const silu of [false, true]) {
        const before = tf.memory().numTensors;
        const fused = run(shape, groups, silu, true);
        assert.equal(tf.memory().numTensors, before, "leaked tensors");
        const ops = run(shape, groups, silu, false);
        ["y", "dx", "dgamma", "dbeta"].forEach((what, i) => {
          const e = relErr(fused[i], ops[i]);
          assert.ok(e < 1e-5, `${backend} [${shape}] groups ${groups} silu ${silu}: ${what} relative error ${e}`);
        });
      }
    }
  });
}

test("GroupNorm's WebAssembly SIMD path equals its JavaScript loops (float64) within 1e-5 (1e-4 at extreme SiLU inputs)", async () => {
  assert.ok(simdSupported, "this runtime has no WebAssembly SIMD");
  for (const backend of ["cpu", "wasm"]) {
    await tf.setBackend(backend);
    // the tiny U-Net's and autoencoder's shapes and groupings (the autoencoder's one group, and the 8 groups
    // of the previous base model), then one whose SiLU sees |z| up to ~400
    // (e^−z beyond float32's range: the SIMD exponential clamps; the output must stay finite)
    for (const [shape, groups, scale] of [
      [[2, 16, 16, 64], 32, 1],
      [[3, 8, 8, 96], 32, 1],
      [[2, 32, 32, 16], 8, 1],
      [[2, 32, 32, 16], 1, 1],
      [[1, 4, 4, 160], 32, 1],
      [[2, 4, 4, 8], 2, 400],
    ] as [[number, number, number, number], number, number][]) {
      for (const silu of [false, true]) {
        const out = (simd: boolean) => {
          setSimdGroupNorm(simd);
          try {
            return tf.tidy(() => {
              const n = shape.reduce((a, b) => a * b, 1);
              const x = tf.tensor4d(
                fixedRandom(n, 5).map((v, i) => 2 * v + (i % 5) + 7),
                shape,
              );
              const g = tf.tensor1d(fixedRandom(shape[3], 6).map((v) => scale * (1 + v)));
              const b = tf.tensor1d(fixedRandom(shape[3], 7));
              const r = tf.tensor4d(fixedRandom(n, 8), shape);
              const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
                tf.sum(tf.mul(groupNorm(xx as tf.Tensor4D, gg, bb, groups, 1e-5, { silu }), r)) as tf.Scalar;
              return [groupNorm(x, g, b, groups, 1e-5, { silu }), ...tf.grads(f)([x, g, b])].map(
                (t) => t.dataSync() as Float32Array,
              );
            });
          } finally {
            setSimdGroupNorm(true);
          }
        };
        const before = tf.memory().numTensors;
        const [simd, js] = [out(true), out(false)];
        assert.equal(tf.memory().numTensors, before, "leaked tensors");
        ["y", "dx", "dgamma", "dbeta"].forEach((what, i) => {
          assert.ok(simd[i].every(Number.isFinite), `${backend} [${shape}] silu ${silu}: ${what} not finite`);
          // float32 intermediates (d = dz·γ) against the loops' float64: at γ ~ 400 the gradient's
          // cancellation d − mean(d) − x̂·mean(d·x̂) leaves ~5e-5; the gradient tolerance is 1e-4
          const e = relErr(simd[i], js[i]);
          assert.ok(
            e < (scale > 1 ? 1e-4 : 1e-5),
            `${backend} [${shape}] groups ${groups} silu ${silu}: ${what} relative error ${e}`,
          );
        });
      }
    }
  }
});

test("fused GroupNorm: bad shapes are errors naming the sizes", async () => {
  await tf.setBackend("cpu");
  const x = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D;
  assert.throws(() => groupNorm(x, tf.ones([6]), tf.zeros([6]), 4, 1e-5), /6 channels are not divisible into 4 groups/);
  assert.throws(
    () =>
      tf
        .engine()
        .runKernel(
          "IdbGroupNorm",
          { x, gamma: tf.ones([5]), beta: tf.zeros([5]) },
          { groups: 2, eps: 1e-5, silu: false },
        ),
    /gamma and beta must be \[6\], got \[5\]/,
  );
  x.dispose();
});

test("fastExp is e^x within 1e-8 relative over float32's range, and clamps outside it", () => {
  let worst = 0;
  for (let i = 0; i <= 20000; i++) {
    const x = -100 + (185 * i) / 20000;
    worst = Math.max(worst, Math.abs(fastExp(x) / Math.exp(x) - 1));
  }
  assert.ok(worst < 1e-8, `worst relative error ${worst}`);
  assert.equal(fastExp(0), 1);
  assert.equal(fastExp(1000), fastExp(88));
  assert.ok(fastExp(-1000) > 0 && fastExp(-1000) === fastExp(-103));
});
