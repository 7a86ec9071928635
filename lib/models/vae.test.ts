import "@tensorflow/tfjs-backend-cpu";
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { parseVaeConfig } from "./config";
import { shippedConfigs, shippedRawConfigs } from "./configs";
import { disposeParams, initParams } from "./init";
import { countParams, torchShape } from "./params";
import { hashTensor, testValues, trainStep } from "./fixtures/testing";
import {
  disposeDistribution,
  modeLatents,
  sampleLatents,
  scaleLatents,
  unscaleLatents,
  vaeCurrentName,
  vaeDecode,
  vaeDownscaleFactor,
  vaeEncode,
  vaeParamSpecs,
} from "./vae";

before(async () => {
  await tf.setBackend("cpu");
});

const tiny = shippedConfigs("tiny").vae;

test("VAE specs carry diffusers' names and torch shapes (SD 1.5, from the config only)", () => {
  const specs = vaeParamSpecs(shippedConfigs("sd15").vae);
  const byName = new Map(specs.map((s) => [s.name, s]));
  // Shapes as in runwayml/stable-diffusion-v1-5 vae/diffusion_pytorch_model.safetensors (attention names as diffusers renames them).
  const expected: [string, number[]][] = [
    ["encoder.conv_in.weight", [128, 3, 3, 3]],
    ["encoder.down_blocks.1.resnets.0.conv_shortcut.weight", [256, 128, 1, 1]],
    ["encoder.down_blocks.0.downsamplers.0.conv.weight", [128, 128, 3, 3]],
    ["encoder.mid_block.attentions.0.to_q.weight", [512, 512]],
    ["encoder.mid_block.attentions.0.group_norm.weight", [512]],
    ["encoder.conv_out.weight", [8, 512, 3, 3]],
    ["quant_conv.weight", [8, 8, 1, 1]],
    ["post_quant_conv.weight", [4, 4, 1, 1]],
    ["decoder.conv_in.weight", [512, 4, 3, 3]],
    ["decoder.up_blocks.2.resnets.0.conv1.weight", [256, 512, 3, 3]],
    ["decoder.up_blocks.3.resnets.2.conv2.weight", [128, 128, 3, 3]],
    ["decoder.up_blocks.0.upsamplers.0.conv.weight", [512, 512, 3, 3]],
    ["decoder.conv_out.weight", [3, 128, 3, 3]],
  ];
  for (const [name, shape] of expected) {
    assert.ok(byName.has(name), `missing ${name}`);
    assert.deepEqual(torchShape(byName.get(name)!), shape, name);
  }
  assert.ok(!byName.has("encoder.down_blocks.3.downsamplers.0.conv.weight"));
  assert.ok(!byName.has("decoder.up_blocks.3.upsamplers.0.conv.weight"));
  assert.equal(vaeCurrentName("decoder.mid_block.attentions.0.proj_attn.weight"), "decoder.mid_block.attentions.0.to_out.0.weight");
  assert.equal(vaeCurrentName("encoder.mid_block.attentions.0.query.bias"), "encoder.mid_block.attentions.0.to_q.bias");
  assert.equal(vaeCurrentName("encoder.conv_in.weight"), "encoder.conv_in.weight");
});

test("mid_block_add_attention: false drops both mid blocks' attention, from the specs and the forward pass", () => {
  const tinyRaw = shippedRawConfigs("tiny").vae as object;
  const without = parseVaeConfig({ ...tinyRaw, mid_block_add_attention: false });
  assert.equal(tiny.mid_block_add_attention, true, "diffusers' default");
  const all = vaeParamSpecs(tiny);
  const some = vaeParamSpecs(without);
  const isAttn = (n: string) => /\.mid_block\.attentions\./.test(n);
  assert.ok(all.some((s) => isAttn(s.name)));
  assert.deepEqual(
    some.map((s) => s.name),
    all.filter((s) => !isAttn(s.name)).map((s) => s.name),
  );
  // per mid block: GroupNorm (2C) + q, k, v, out (C² + C each), C = the last block_out_channels
  const C = tiny.block_out_channels[tiny.block_out_channels.length - 1];
  assert.equal(countParams(all) - countParams(some), 2 * (2 * C + 4 * (C * C + C)));
  const params = initParams(some, 0);
  const images = tf.tensor4d(testValues(16 * 16 * 3, 2), [1, 16, 16, 3]);
  const before = tf.memory().numTensors;
  const dist = vaeEncode(params, without, images);
  const img = vaeDecode(params, without, dist.mean);
  assert.deepEqual(img.shape, [1, 16, 16, 3]);
  assert.ok(Array.from(img.dataSync()).every(Number.isFinite));
  disposeDistribution(dist);
  img.dispose();
  assert.equal(tf.memory().numTensors, before, "encode/decode without attention leaked tensors");
  images.dispose();
  disposeParams(params);
  assert.throws(() => parseVaeConfig({ ...tinyRaw, mid_block_add_attention: "no" }), /mid_block_add_attention/);
});

test("tiny VAE: encode → (mean, logvar) at 1/f resolution, seeded sample, mode, decode back to image size", () => {
  const params = initParams(vaeParamSpecs(tiny), 0);
  const f = vaeDownscaleFactor(tiny);
  assert.equal(f, 4);
  const images = tf.tensor4d(testValues(2 * 16 * 16 * 3, 1), [2, 16, 16, 3]);
  const before = tf.memory().numTensors;
  const dist = vaeEncode(params, tiny, images);
  assert.deepEqual(dist.mean.shape, [2, 4, 4, tiny.latent_channels]);
  assert.deepEqual(dist.logvar.shape, [2, 4, 4, tiny.latent_channels]);
  const lv = dist.logvar.dataSync();
  assert.ok(lv.every((v) => v >= -30 && v <= 20), "logvar is clamped to [−30, 20]");
  const z1 = sampleLatents(dist, 7);
  const z2 = sampleLatents(dist, 7);
  const z3 = sampleLatents(dist, 8);
  assert.equal(hashTensor(z1), hashTensor(z2), "same seed, same sample");
  assert.notEqual(hashTensor(z1), hashTensor(z3), "another seed, another sample");
  const m = modeLatents(dist);
  assert.equal(hashTensor(m), hashTensor(dist.mean));
  const scaled = scaleLatents(m, tiny);
  const back = unscaleLatents(scaled, tiny);
  const md = m.dataSync();
  assert.ok(Array.from(back.dataSync()).every((v, i) => Math.abs(v - md[i]) < 1e-5));
  const img = vaeDecode(params, tiny, z1);
  assert.deepEqual(img.shape, [2, 16, 16, 3]);
  assert.ok(Array.from(img.dataSync()).every(Number.isFinite));
  disposeDistribution(dist);
  tf.dispose([z1, z2, z3, m, scaled, back, img]);
  assert.equal(tf.memory().numTensors, before, "encode/sample/decode leaked tensors");
  const odd = tf.zeros([1, 10, 10, 3]) as tf.Tensor4D;
  assert.throws(() => vaeEncode(params, tiny, odd), /10×10; height and width must be multiples of 4/);
  assert.throws(() => vaeDecode(params, tiny, odd), new RegExp(`latents must be \\[B, h, w, ${tiny.latent_channels}\\]`));
  tf.dispose([odd, images]);
  disposeParams(params);
});

test("tiny VAE backward: every parameter gets a gradient; forward, backward and an Adam step leak nothing", () => {
  const params = initParams(vaeParamSpecs(tiny), 1);
  const images = tf.tensor4d(testValues(8 * 8 * 3, 2), [1, 8, 8, 3]);
  const before = tf.memory().numTensors;
  const opt = tf.train.adam(1e-3);
  // Reconstruction through a seeded sample, so encoder (mean and logvar), quant convs and decoder are all used.
  const fwd = () =>
    tf.tidy(() => {
      const d = vaeEncode(params, tiny, images);
      return vaeDecode(params, tiny, sampleLatents(d, 3));
    });
  const s1 = trainStep(params, fwd, images, opt);
  assert.deepEqual(s1.missing, [], "parameters without a gradient");
  const loss2 = tf.tidy(() => tf.mean(tf.squaredDifference(fwd(), images)).dataSync()[0]);
  assert.ok(loss2 < s1.loss, `loss did not decrease after one Adam step (${s1.loss} → ${loss2})`);
  opt.dispose();
  assert.equal(tf.memory().numTensors, before);
  images.dispose();
  disposeParams(params);
});
