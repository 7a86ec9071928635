import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { shippedConfigs } from "./configs";
import { initParams, disposeParams } from "./init";
import { unetForward, unetParamSpecs } from "./unet";
import { vaeDecode, vaeEncode, vaeParamSpecs } from "./vae";
import { clipTextForward, clipTextParamSpecs } from "./clip-text";
import type { ParamSpec, Params } from "./params";

const tiny = shippedConfigs("tiny");

/** Loss and every parameter's gradient of `loss(params)` on a backend, as plain arrays. */
async function gradsOn(backend: "wasm" | "cpu", specs: ParamSpec[], loss: (p: Params) => tf.Scalar) {
  await initBackend({ prefer: backend, log: () => {} });
  const p = initParams(specs, 11);
  const vars = specs.map((s) => p.get(s.name)!);
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(() => loss(p), vars);
  const out = { loss: (await value.data())[0], grads: await Promise.all(vars.map(async (v) => Float32Array.from((await grads[v.name].data()) as Float32Array))) };
  tf.dispose([value, ...Object.values(grads)]);
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensors left behind by a forward + backward pass`);
  disposeParams(p);
  return out;
}

/**
 * Per parameter, ‖a − b‖ ≤ 1e-4 · max(‖b‖, 1e-3 · ‖B‖), B all of cpu's gradients together. The floor
 * matters for gradients that are zero in exact arithmetic, where both backends return float32
 * round-off (e.g. attention's key bias: adding a constant to every key's score leaves the softmax
 * unchanged, so its gradient is 0); their ratio says nothing.
 */
function compare(specs: ParamSpec[], a: Float32Array[], b: Float32Array[], what: string) {
  let total = 0;
  for (const g of b) for (const x of g) total += x * x;
  const floor = 1e-3 * Math.sqrt(total);
  let worst = 0;
  let worstName = "";
  specs.forEach((s, i) => {
    let num = 0;
    let den = 0;
    for (let k = 0; k < a[i].length; k++) {
      num += (a[i][k] - b[i][k]) ** 2;
      den += b[i][k] ** 2;
    }
    const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
    if (rel > worst) [worst, worstName] = [rel, s.name];
  });
  assert.ok(worst <= 1e-4, `${what}: gradient of ${worstName} differs by ${worst.toExponential(2)} (relative L2) between wasm and cpu`);
}

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.9);

test("tiny U-Net: loss and every gradient on wasm equal the cpu backend's within 1e-4 relative", async () => {
  const c = tiny.unet;
  const specs = unetParamSpecs(c);
  const S = c.sample_size;
  const loss = (p: Params) =>
    tf.tidy(() => {
      const x = tf.tensor4d(values(2 * S * S * c.in_channels, 1), [2, S, S, c.in_channels]);
      const e = tf.tensor3d(values(2 * 77 * c.cross_attention_dim, 2), [2, 77, c.cross_attention_dim]);
      return tf.mean(tf.square(tf.sub(unetForward(p, c, x, tf.tensor1d([3, 870], "int32"), e), x))) as tf.Scalar;
    });
  const w = await gradsOn("wasm", specs, loss);
  const r = await gradsOn("cpu", specs, loss);
  assert.ok(Math.abs(w.loss - r.loss) <= 1e-5 * Math.abs(r.loss), `loss ${w.loss} vs ${r.loss}`);
  compare(specs, w.grads, r.grads, "U-Net");
});

test("tiny VAE and text encoder: gradients on wasm equal the cpu backend's within 1e-4 relative", async () => {
  const v = tiny.vae;
  const vs = vaeParamSpecs(v);
  const vloss = (p: Params) =>
    tf.tidy(() => {
      const x = tf.tensor4d(values(1 * 64 * 64 * 3, 3), [1, 64, 64, 3]);
      const { mean } = vaeEncode(p, v, x);
      return tf.mean(tf.square(tf.sub(vaeDecode(p, v, mean), x))) as tf.Scalar;
    });
  const vw = await gradsOn("wasm", vs, vloss);
  const vr = await gradsOn("cpu", vs, vloss);
  compare(vs, vw.grads, vr.grads, "VAE");
  const t = tiny.textEncoder;
  const ts = clipTextParamSpecs(t);
  const tloss = (p: Params) =>
    tf.tidy(() => {
      const ids = tf.tensor2d(Int32Array.from({ length: 2 * 77 }, (_, i) => (i * 7919) % 49408), [2, 77], "int32");
      // not mean(out²): the final LayerNorm makes that ≈ 1 whatever the weights, so its gradient is round-off
      const w = tf.tensor3d(values(2 * 77 * t.hidden_size, 4), [2, 77, t.hidden_size]);
      return tf.mean(tf.mul(clipTextForward(p, t, ids), w)) as tf.Scalar;
    });
  const tw = await gradsOn("wasm", ts, tloss);
  const tr = await gradsOn("cpu", ts, tloss);
  compare(ts, tw.grads, tr.grads, "text encoder");
});
