import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { parseUNetConfig } from "./config";
import { shippedConfigs, shippedRawConfigs } from "./configs";
import { disposeParams, initParams } from "./init";
import { measureFlops } from "./layers";
import { torchShape } from "./params";
import { unetForwardFlops } from "./components";
import { hashTensor, testValues, trainStep } from "./fixtures/testing";
import { unetForward, unetParamSpecs } from "./unet";

before(async () => {
  await tf.setBackend("cpu");
});

const tiny = shippedConfigs("tiny").unet;
/** the shipped tiny U-Net's latent channels (in = out) */
const C = tiny.in_channels;

function inputs(B: number, H: number, S: number, seed: number) {
  const D = tiny.cross_attention_dim;
  return {
    sample: tf.tensor4d(testValues(B * H * H * C, seed), [B, H, H, C]),
    timesteps: tf.tensor1d(Array.from({ length: B }, (_, i) => 999 - 250 * i)),
    context: tf.tensor3d(testValues(B * S * D, seed + 1), [B, S, D]),
  };
}

test("U-Net specs carry diffusers' names and torch shapes (SD 1.5, from the config only)", () => {
  const specs = unetParamSpecs(shippedConfigs("sd15").unet);
  const byName = new Map(specs.map((s) => [s.name, s]));
  // Shapes as in runwayml/stable-diffusion-v1-5 unet/diffusion_pytorch_model.safetensors.
  const expected: [string, number[]][] = [
    ["conv_in.weight", [320, 4, 3, 3]],
    ["time_embedding.linear_1.weight", [1280, 320]],
    ["down_blocks.0.attentions.0.proj_in.weight", [320, 320, 1, 1]],
    ["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", [320, 768]],
    ["down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight", [2560, 320]],
    ["down_blocks.1.resnets.0.conv_shortcut.weight", [640, 320, 1, 1]],
    ["down_blocks.2.downsamplers.0.conv.weight", [1280, 1280, 3, 3]],
    ["mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0.bias", [1280]],
    ["up_blocks.0.resnets.0.conv1.weight", [1280, 2560, 3, 3]],
    ["up_blocks.1.resnets.2.conv1.weight", [1280, 1920, 3, 3]],
    ["up_blocks.3.resnets.0.conv1.weight", [320, 960, 3, 3]],
    ["up_blocks.3.resnets.2.conv_shortcut.weight", [320, 640, 1, 1]],
    ["up_blocks.2.upsamplers.0.conv.weight", [640, 640, 3, 3]],
    ["conv_out.weight", [4, 320, 3, 3]],
  ];
  for (const [name, shape] of expected) {
    const s = byName.get(name);
    assert.ok(s, `missing ${name}`);
    assert.deepEqual(torchShape(s), shape, name);
  }
  for (const absent of ["down_blocks.3.downsamplers.0.conv.weight", "up_blocks.3.upsamplers.0.conv.weight", "down_blocks.3.attentions.0.norm.weight", "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.bias"]) {
    assert.ok(!byName.has(absent), `unexpected ${absent}`);
  }
});

test("use_linear_projection makes proj_in/proj_out linear (SD 2.x)", () => {
  const raw = shippedRawConfigs("tiny").unet as Record<string, unknown>;
  const specs = unetParamSpecs(parseUNetConfig({ ...raw, use_linear_projection: true }));
  const p = specs.find((s) => s.name === "down_blocks.1.attentions.0.proj_in.weight")!;
  assert.equal(p.layout, "linear");
  assert.deepEqual(p.shape, [96, 96]);
});

test("tiny U-Net forward: NHWC noise prediction of the sample's shape; scalar t broadcasts; no leaks", () => {
  const params = initParams(unetParamSpecs(tiny), 0);
  const { sample, timesteps, context } = inputs(2, 4, 8, 1);
  const t1 = tf.scalar(500);
  const tb = tf.tensor1d([500, 500]);
  const before = tf.memory().numTensors;
  const out = unetForward(params, tiny, sample, timesteps, context);
  assert.equal(tf.memory().numTensors, before + 1, "forward left temporaries behind");
  assert.deepEqual(out.shape, [2, 4, 4, C]);
  assert.ok(Array.from(out.dataSync()).every(Number.isFinite));
  // One timestep for the whole batch equals the same timestep repeated; the output depends on t.
  const a = unetForward(params, tiny, sample, t1, context);
  const b = unetForward(params, tiny, sample, tb, context);
  assert.equal(hashTensor(a), hashTensor(b));
  assert.notEqual(hashTensor(a), hashTensor(out));
  tf.dispose([out, a, b, t1, tb, sample, timesteps, context]);
  disposeParams(params);
});

test("tiny U-Net: bad inputs give errors naming the input and the fix", () => {
  const params = initParams(unetParamSpecs(tiny), 0);
  const { sample, timesteps, context } = inputs(1, 8, 4, 2);
  const odd = tf.zeros([1, 6, 6, C]) as tf.Tensor4D;
  const nchw = tf.zeros([1, C, 8, 8 + C]) as tf.Tensor4D;
  const ctx = tf.zeros([1, 4, 32]) as tf.Tensor3D;
  assert.throws(() => unetForward(params, tiny, odd, timesteps, context), /6×6; height and width must be multiples of 4/);
  assert.throws(() => unetForward(params, tiny, nchw, timesteps, context), new RegExp(`${8 + C} channels; the config's in_channels is ${C}`));
  assert.throws(() => unetForward(params, tiny, sample, timesteps, ctx), /encoderHiddenStates must be \[1, S, 64\]/);
  params.get("conv_in.bias")!.dispose();
  params.delete("conv_in.bias");
  assert.throws(() => unetForward(params, tiny, sample, timesteps, context), /missing parameter "conv_in.bias"/);
  tf.dispose([odd, nchw, ctx, sample, timesteps, context]);
  disposeParams(params);
});

test("tiny U-Net backward: every parameter gets a gradient; forward, backward and an Adam step leak nothing", () => {
  const params = initParams(unetParamSpecs(tiny), 1);
  const { sample, timesteps, context } = inputs(1, 4, 8, 3);
  const target = tf.tensor4d(testValues(4 * 4 * C, 4), [1, 4, 4, C]);
  const before = tf.memory().numTensors;
  const opt = tf.train.adam(1e-3);
  const fwd = () => unetForward(params, tiny, sample, timesteps, context);
  const s1 = trainStep(params, fwd, target, opt);
  assert.deepEqual(s1.missing, [], "parameters without a gradient (unused by the forward pass)");
  assert.ok([...s1.gradNorms.values()].every(Number.isFinite));
  const loss2 = tf.tidy(() => tf.mean(tf.squaredDifference(fwd(), target)).dataSync()[0]);
  assert.ok(loss2 < s1.loss, `loss did not decrease after one Adam step (${s1.loss} → ${loss2})`);
  opt.dispose();
  assert.equal(tf.memory().numTensors, before, "tensors left after disposing the optimizer");
  tf.dispose([sample, timesteps, context, target]);
  disposeParams(params);
});

test("the analytic U-Net FLOP count equals what the forward pass executes", () => {
  const params = initParams(unetParamSpecs(tiny), 0);
  for (const [B, H, W, S] of [
    [2, 8, 8, 77],
    [1, 4, 12, 5],
  ]) {
    const sample = tf.zeros([B, H, W, C]) as tf.Tensor4D;
    const timesteps = tf.zeros([B]);
    const context = tf.zeros([B, S, 64]) as tf.Tensor3D;
    const { result, flops } = measureFlops(() => unetForward(params, tiny, sample, timesteps, context));
    assert.deepEqual(result.shape, [B, H, W, C]);
    assert.equal(unetForwardFlops(tiny, { height: H, width: W, batch: B, seqLen: S }), flops, `B ${B}, ${H}×${W}, S ${S}`);
    tf.dispose([result, sample, timesteps, context]);
  }
  disposeParams(params);
});
