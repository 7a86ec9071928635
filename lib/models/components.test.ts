import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { test } from "node:test";
import { clipTextParamSpecs } from "./clip-text";
import { ConfigError, parseClipTextConfig, parseUNetConfig, parseVaeConfig } from "./config";
import { shippedConfigs, shippedRawConfigs } from "./configs";
import { countParams } from "./params";
import { componentParamCounts, loadComponentConfigs, unetForwardFlops } from "./components";
import { unetParamSpecs } from "./unet";
import { vaeParamSpecs } from "./vae";

test("SD 1.5 parameter counts equal diffusers' for runwayml/stable-diffusion-v1-5 (specs only, no allocation)", () => {
  // Published counts: sum(p.numel() for p in model.parameters()) of diffusers' UNet2DConditionModel,
  // AutoencoderKL and transformers' CLIPTextModel loaded from runwayml/stable-diffusion-v1-5.
  const c = shippedConfigs("sd15");
  assert.equal(countParams(unetParamSpecs(c.unet)), 859_520_964);
  assert.equal(countParams(vaeParamSpecs(c.vae)), 83_653_863);
  assert.equal(countParams(clipTextParamSpecs(c.textEncoder)), 123_060_480);
  assert.deepEqual(componentParamCounts(c), { unet: 859_520_964, vae: 83_653_863, textEncoder: 123_060_480 });
});

test("CLIP ViT-L/14 text encoder count from its formula: embeddings + 12 layers + final LayerNorm", () => {
  const [V, P, D, F, L] = [49408, 77, 768, 3072, 12];
  const layer = 4 * (D * D + D) + 2 * 2 * D + (D * F + F) + (F * D + D);
  assert.equal(countParams(clipTextParamSpecs(shippedConfigs("sd15").textEncoder)), V * D + P * D + L * layer + 2 * D);
});

test("parameter names are unique in every shipped component", () => {
  for (const name of ["sd15", "tiny"] as const) {
    const c = shippedConfigs(name);
    for (const specs of [unetParamSpecs(c.unet), vaeParamSpecs(c.vae), clipTextParamSpecs(c.textEncoder)]) {
      assert.equal(new Set(specs.map((s) => s.name)).size, specs.length);
    }
  }
});

test("tiny: the structure of SD 1.5 at small width", () => {
  const t = shippedConfigs("tiny");
  assert.deepEqual(t.unet.block_out_channels, [64, 96, 128]);
  // cross-attention on the two lower-resolution levels (8×8 and 4×4 at 16×16 latents), as the sizing study chose
  assert.deepEqual(t.unet.down_block_types, ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]);
  assert.deepEqual(t.unet.up_block_types, ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]);
  assert.equal(t.unet.cross_attention_dim, t.textEncoder.hidden_size);
  assert.equal(t.vae.latent_channels, t.unet.in_channels);
  assert.equal(t.textEncoder.vocab_size, 49408, "the real CLIP tokenizer's vocabulary");
});

test("U-Net FLOPs scale linearly with the batch; odd latent sizes are refused", () => {
  const u = shippedConfigs("tiny").unet;
  const f = (h: number, b: number) => unetForwardFlops(u, { height: h, width: h, batch: b });
  assert.equal(f(8, 2), 2 * f(8, 1));
  assert.equal(f(16, 3), 3 * f(16, 1));
  assert.throws(() => f(6, 1), /latents 6×6 must be multiples of 4/);
});

test("config parsers fill diffusers' defaults and name the key, value and support in errors", () => {
  const raw = shippedRawConfigs("tiny");
  const u = raw.unet as Record<string, unknown>;
  assert.throws(() => parseUNetConfig({ ...u, down_block_types: ["CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "DownBlock2D"] }), (e: Error) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /"down_block_types" contains "SimpleCrossAttnDownBlock2D".*supported: "CrossAttnDownBlock2D", "DownBlock2D"/);
    return true;
  });
  assert.throws(() => parseUNetConfig({ ...u, act_fn: "gelu" }), /"act_fn" = "gelu" is not supported; supported: "silu"/);
  assert.throws(() => parseUNetConfig({ ...u, class_embed_type: "timestep" }), /unknown key "class_embed_type"/);
  assert.throws(() => parseUNetConfig({ ...u, transformer_layers_per_block: 2 }), /"transformer_layers_per_block" = 2 is not supported/);
  assert.throws(() => parseUNetConfig({ ...u, up_block_types: ["UpBlock2D", "CrossAttnUpBlock2D"] }), /"up_block_types" has 2 entries; needs .* \(3\)/);
  assert.throws(() => parseUNetConfig({ ...u, up_block_types: ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"] }), /level 0 has down block "DownBlock2D" but up block "CrossAttnUpBlock2D"/);
  assert.throws(() => parseUNetConfig({ ...u, norm_num_groups: 48 }), /block_out_channels\[0\] = 64 is not divisible by "norm_num_groups" = 48/);
  assert.throws(() => parseUNetConfig({ ...u, layers_per_block: 0 }), /"layers_per_block" = 0 is not supported; supported: an integer ≥ 1/);
  assert.throws(() => parseUNetConfig({ ...u, _class_name: "UNet2DModel" }), /"_class_name" = "UNet2DModel"; expected "UNet2DConditionModel"/);
  assert.throws(() => parseUNetConfig([1]), /must be a JSON object/);
  // null switches a feature off, whatever its name; metadata keys are ignored.
  assert.equal(parseUNetConfig({ ...u, class_embed_type: null, _diffusers_version: "0.30.0" }).layers_per_block, 1);
  // diffusers defaults fill missing keys (UNet2DConditionModel.__init__).
  const d = parseUNetConfig({});
  assert.deepEqual(d.block_out_channels, [320, 640, 1280, 1280]);
  assert.equal(d.cross_attention_dim, 1280);
  assert.equal(parseVaeConfig({}).scaling_factor, 0.18215);
  assert.throws(() => parseVaeConfig({ ...(raw.vae as object), down_block_types: ["DownEncoderBlock2D"] }), /need the same number of entries as block_out_channels \(3\)/);
  assert.throws(() => parseClipTextConfig({ ...(raw.text_encoder as object), hidden_act: "relu" }), /"hidden_act" = "relu" is not supported; supported: "quick_gelu", "gelu"/);
  assert.throws(() => parseClipTextConfig({ ...(raw.text_encoder as object), num_attention_heads: 3 }), /"hidden_size" = 64 is not divisible by "num_attention_heads" = 3/);
});

test("loadComponentConfigs reads a diffusers folder like the shipped configs, with clear errors", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sd-configs-"));
  try {
    const raw = shippedRawConfigs("sd15");
    for (const [folder, obj] of [["unet", raw.unet], ["vae", raw.vae], ["text_encoder", raw.text_encoder]] as const) {
      fs.mkdirSync(path.join(dir, folder));
      fs.writeFileSync(path.join(dir, folder, "config.json"), JSON.stringify(obj));
    }
    assert.deepEqual(componentParamCounts(loadComponentConfigs(dir)), componentParamCounts(loadComponentConfigs("sd15")));
    fs.writeFileSync(path.join(dir, "vae", "config.json"), JSON.stringify({ ...(raw.vae as object), act_fn: "relu" }));
    assert.throws(() => loadComponentConfigs(dir), /vae[/\\]config.json: AutoencoderKL config: "act_fn" = "relu"/);
    fs.writeFileSync(path.join(dir, "vae", "config.json"), "{ not json");
    assert.throws(() => loadComponentConfigs(dir), /vae[/\\]config.json is not valid JSON/);
    fs.rmSync(path.join(dir, "text_encoder"), { recursive: true });
    fs.writeFileSync(path.join(dir, "vae", "config.json"), JSON.stringify(raw.vae));
    assert.throws(() => loadComponentConfigs(dir), /cannot read .*text_encoder[/\\]config.json/);
    assert.throws(() => loadComponentConfigs(path.join(dir, "nope")), /neither a shipped config \(sd15, tiny\) nor a diffusers folder/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
