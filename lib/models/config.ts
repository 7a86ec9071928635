/**
 * The three components' configurations, as diffusers / transformers write them in `config.json`
 * (snake_case keys), and their parsers.
 *
 * A parser fills defaults the way the Python constructor does (diffusers `UNet2DConditionModel`,
 * `AutoencoderKL`; transformers `CLIPTextConfig`) and rejects what this project does not implement
 * with an error that names the key, the value and what is supported. Keys whose value is `null`
 * switch a feature off in diffusers' convention and are accepted whatever their name.
 */

export type UNetDownBlockType = "CrossAttnDownBlock2D" | "DownBlock2D";
export type UNetUpBlockType = "UpBlock2D" | "CrossAttnUpBlock2D";

/** diffusers `UNet2DConditionModel` config (the subset Stable Diffusion 1.x/2.x use). */
export interface UNetConfig {
  _class_name?: "UNet2DConditionModel";
  sample_size: number;
  in_channels: number;
  out_channels: number;
  down_block_types: UNetDownBlockType[];
  up_block_types: UNetUpBlockType[];
  block_out_channels: number[];
  layers_per_block: number;
  cross_attention_dim: number;
  /** diffusers' naming quirk: for SD this is the number of heads, not their width. */
  attention_head_dim: number | number[];
  /** when given, overrides `attention_head_dim` as the number of heads. */
  num_attention_heads?: number | number[] | null;
  norm_num_groups: number;
  norm_eps: number;
  flip_sin_to_cos: boolean;
  freq_shift: number;
  act_fn: "silu";
  /** SD 1.x: false (proj_in/proj_out are 1×1 convs); SD 2.x: true (linear). */
  use_linear_projection: boolean;
  downsample_padding: 1;
  mid_block_scale_factor: 1;
  center_input_sample: false;
  /**
   * diffusers' extra conditioning added to the time embedding: null (Stable Diffusion 1.x/2.x) or
   * "text" (`TextTimeEmbedding`: attention pooling of encoder_hidden_states, projected to the time
   * embedding's width). Absent means null.
   */
  addition_embed_type?: UNetAdditionEmbedType | null;
  /** heads of the "text" embedding's attention pooling (diffusers default 64); must divide cross_attention_dim. */
  addition_embed_type_num_heads?: number;
}

/** The `addition_embed_type` values this project implements (besides null). */
export const UNET_ADDITION_EMBED_TYPES = ["text"] as const;
export type UNetAdditionEmbedType = (typeof UNET_ADDITION_EMBED_TYPES)[number];
/** diffusers `UNet2DConditionModel`'s default `addition_embed_type_num_heads`. */
export const DEFAULT_ADDITION_EMBED_NUM_HEADS = 64;

/** diffusers `AutoencoderKL` config. */
export interface VaeConfig {
  _class_name?: "AutoencoderKL";
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  down_block_types: "DownEncoderBlock2D"[];
  up_block_types: "UpDecoderBlock2D"[];
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  act_fn: "silu";
  sample_size: number;
  /** latents are multiplied by this before the U-Net sees them (SD 1.x: 0.18215). */
  scaling_factor: number;
  /** whether the encoder's and decoder's mid blocks have their spatial self-attention (diffusers default true) */
  mid_block_add_attention: boolean;
}

/** transformers `CLIPTextConfig` (what `text_encoder/config.json` holds). */
export interface ClipTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  /** SD 1.x (OpenAI CLIP ViT-L/14): quick_gelu; SD 2.x (OpenCLIP): gelu. */
  hidden_act: "quick_gelu" | "gelu";
  layer_norm_eps: number;
  projection_dim: number;
}

/** A config that cannot be used: the message names the key, the value and what is supported. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Raw = Record<string, unknown>;

const show = (v: unknown) => JSON.stringify(v);

function asObject(raw: unknown, what: string): Raw {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError(`${what} config must be a JSON object (got ${show(raw)})`);
  }
  return raw as Raw;
}

/** Reads typed fields off a raw config, filling defaults and naming the component in errors. */
class Reader {
  private readonly used = new Set<string>();
  constructor(
    private readonly raw: Raw,
    private readonly what: string,
  ) {}

  private get(key: string): unknown {
    this.used.add(key);
    return this.raw[key];
  }

  private fail(key: string, v: unknown, supported: string): never {
    throw new ConfigError(`${this.what} config: "${key}" = ${show(v)} is not supported; supported: ${supported}`);
  }

  int(key: string, def?: number, min = 1): number {
    const v = this.get(key) ?? def;
    if (v === undefined) throw new ConfigError(`${this.what} config: "${key}" is required (an integer ≥ ${min})`);
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) this.fail(key, v, `an integer ≥ ${min}`);
    return v;
  }

  num(key: string, def?: number, positive = true): number {
    const v = this.get(key) ?? def;
    if (v === undefined) throw new ConfigError(`${this.what} config: "${key}" is required (a number)`);
    if (typeof v !== "number" || !Number.isFinite(v) || (positive && v <= 0)) {
      this.fail(key, v, positive ? "a positive number" : "a finite number");
    }
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.get(key) ?? def;
    if (typeof v !== "boolean") this.fail(key, v, "true or false");
    return v;
  }

  oneOf<T extends string | number | boolean>(key: string, allowed: readonly T[], def: T): T {
    const v = this.get(key) ?? def;
    if (!allowed.includes(v as T)) this.fail(key, v, allowed.map(show).join(", "));
    return v as T;
  }

  /** An optional feature's type: null when absent or null (diffusers: switched off), else one of `allowed`. */
  oneOfOrNull<T extends string>(key: string, allowed: readonly T[]): T | null {
    const v = this.get(key) ?? null;
    if (v !== null && !allowed.includes(v as T)) this.fail(key, v, ["null", ...allowed.map(show)].join(", "));
    return v as T | null;
  }

  ints(key: string, def?: number[]): number[] {
    const v = this.get(key) ?? def;
    if (v === undefined) throw new ConfigError(`${this.what} config: "${key}" is required (a list of integers)`);
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 1)) {
      this.fail(key, v, "a non-empty list of positive integers");
    }
    return [...(v as number[])];
  }

  intOrInts(key: string, def?: number | number[] | null): number | number[] | null {
    const v = this.get(key) ?? def ?? null;
    if (v === null) return null;
    const okInt = (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 1;
    if (okInt(v)) return v as number;
    if (Array.isArray(v) && v.length > 0 && v.every(okInt)) return [...(v as number[])];
    this.fail(key, v, "a positive integer or a list of them");
  }

  strings<T extends string>(key: string, allowed: readonly T[], def?: T[]): T[] {
    const v = this.get(key) ?? def;
    if (v === undefined) throw new ConfigError(`${this.what} config: "${key}" is required`);
    if (!Array.isArray(v) || v.length === 0) this.fail(key, v, `a non-empty list of ${allowed.map(show).join(", ")}`);
    for (const x of v as unknown[]) {
      if (!allowed.includes(x as T)) {
        throw new ConfigError(`${this.what} config: "${key}" contains ${show(x)}, which is not supported; supported: ${allowed.map(show).join(", ")}`);
      }
    }
    return [...(v as T[])];
  }

  /** Keys this project does not implement: accepted only at the value that switches them off. */
  onlyDefault(key: string, allowed: readonly unknown[]): void {
    const v = this.get(key);
    if (v === undefined || v === null) return;
    if (!allowed.some((a) => a === v)) this.fail(key, v, allowed.map(show).join(" or ") + " (this project implements only that)");
  }

  /** Marks keys that do not change the model's parameters or forward pass. */
  ignore(...keys: string[]): void {
    for (const k of keys) this.used.add(k);
  }

  /** Rejects keys this reader never looked at, unless they are metadata (`_…`) or null. */
  rejectUnknown(): void {
    for (const [k, v] of Object.entries(this.raw)) {
      if (this.used.has(k) || k.startsWith("_") || v === null) continue;
      throw new ConfigError(
        `${this.what} config: unknown key "${k}" = ${show(v)}; this project does not implement it. Known keys: ${[...this.used].sort().join(", ")}`,
      );
    }
  }

  checkClass(expected: string): void {
    const v = this.raw["_class_name"];
    if (v !== undefined && v !== expected) {
      throw new ConfigError(`${this.what} config: "_class_name" = ${show(v)}; expected ${show(expected)}`);
    }
  }
}

/** The per-level head count of a U-Net (diffusers: `num_attention_heads or attention_head_dim`). */
export function unetHeads(config: UNetConfig): number[] {
  const h = config.num_attention_heads ?? config.attention_head_dim;
  const n = config.block_out_channels.length;
  return typeof h === "number" ? new Array<number>(n).fill(h) : h;
}

/**
 * The U-Net's extra time-embedding conditioning (diffusers `addition_embed_type`): null when off,
 * else its type and the attention-pooling heads. Checks a config built by hand as the parser does:
 * an unknown type, or heads that do not divide cross_attention_dim, are errors naming the values.
 */
export function unetAdditionEmbedding(config: UNetConfig): { type: UNetAdditionEmbedType; heads: number } | null {
  const what = "UNet2DConditionModel";
  const type = config.addition_embed_type ?? null;
  if (type === null) return null;
  if (!(UNET_ADDITION_EMBED_TYPES as readonly string[]).includes(type)) {
    throw new ConfigError(
      `${what} config: "addition_embed_type" = ${show(type)} is not supported; supported: ${["null", ...UNET_ADDITION_EMBED_TYPES.map(show)].join(", ")}`,
    );
  }
  const heads = config.addition_embed_type_num_heads ?? DEFAULT_ADDITION_EMBED_NUM_HEADS;
  const dim = config.cross_attention_dim;
  if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
    throw new ConfigError(
      `${what} config: "addition_embed_type_num_heads" = ${show(heads)} does not divide "cross_attention_dim" = ${dim} ` +
        `(the text embedding's attention pooling splits the ${dim} text features into that many heads)`,
    );
  }
  return { type, heads };
}

/**
 * Parses a diffusers `unet/config.json` object.
 * Defaults are `UNet2DConditionModel.__init__`'s (diffusers 0.2x `models/unets/unet_2d_condition.py`).
 */
export function parseUNetConfig(raw: unknown): UNetConfig {
  const what = "UNet2DConditionModel";
  const r = new Reader(asObject(raw, what), what);
  r.checkClass(what);
  const block_out_channels = r.ints("block_out_channels", [320, 640, 1280, 1280]);
  const n = block_out_channels.length;
  const c: UNetConfig = {
    _class_name: "UNet2DConditionModel",
    sample_size: r.int("sample_size", 64),
    in_channels: r.int("in_channels", 4),
    out_channels: r.int("out_channels", 4),
    down_block_types: r.strings("down_block_types", ["CrossAttnDownBlock2D", "DownBlock2D"] as const, [
      "CrossAttnDownBlock2D",
      "CrossAttnDownBlock2D",
      "CrossAttnDownBlock2D",
      "DownBlock2D",
    ]),
    up_block_types: r.strings("up_block_types", ["UpBlock2D", "CrossAttnUpBlock2D"] as const, [
      "UpBlock2D",
      "CrossAttnUpBlock2D",
      "CrossAttnUpBlock2D",
      "CrossAttnUpBlock2D",
    ]),
    block_out_channels,
    layers_per_block: r.int("layers_per_block", 2),
    cross_attention_dim: r.int("cross_attention_dim", 1280),
    attention_head_dim: r.intOrInts("attention_head_dim", 8) as number | number[],
    num_attention_heads: r.intOrInts("num_attention_heads", null),
    norm_num_groups: r.int("norm_num_groups", 32),
    norm_eps: r.num("norm_eps", 1e-5),
    flip_sin_to_cos: r.bool("flip_sin_to_cos", true),
    freq_shift: r.num("freq_shift", 0, false),
    act_fn: r.oneOf("act_fn", ["silu"] as const, "silu"),
    use_linear_projection: r.bool("use_linear_projection", false),
    downsample_padding: r.oneOf("downsample_padding", [1] as const, 1),
    mid_block_scale_factor: r.oneOf("mid_block_scale_factor", [1] as const, 1),
    center_input_sample: r.oneOf("center_input_sample", [false] as const, false),
    addition_embed_type: r.oneOfOrNull("addition_embed_type", UNET_ADDITION_EMBED_TYPES),
    // read whatever the type (diffusers ignores it when addition_embed_type is null)
    addition_embed_type_num_heads: r.int("addition_embed_type_num_heads", DEFAULT_ADDITION_EMBED_NUM_HEADS),
  };
  // Features Stable Diffusion does not use: accepted only switched off.
  r.onlyDefault("mid_block_type", ["UNetMidBlock2DCrossAttn"]);
  r.onlyDefault("only_cross_attention", [false]);
  r.onlyDefault("dual_cross_attention", [false]);
  r.onlyDefault("resnet_time_scale_shift", ["default"]);
  r.onlyDefault("time_embedding_type", ["positional"]);
  r.onlyDefault("transformer_layers_per_block", [1]);
  r.onlyDefault("conv_in_kernel", [3]);
  r.onlyDefault("conv_out_kernel", [3]);
  r.onlyDefault("resnet_skip_time_act", [false]);
  r.onlyDefault("resnet_out_scale_factor", [1]);
  r.onlyDefault("class_embeddings_concat", [false]);
  r.onlyDefault("dropout", [0]);
  r.onlyDefault("attention_type", ["default"]);
  // Numerics of the reference implementation (float16 upcasting): no effect in float32.
  r.ignore("upcast_attention");
  r.rejectUnknown();

  const known = "the same number of entries as block_out_channels";
  if (c.down_block_types.length !== n) {
    throw new ConfigError(`${what} config: "down_block_types" has ${c.down_block_types.length} entries; needs ${known} (${n})`);
  }
  if (c.up_block_types.length !== n) {
    throw new ConfigError(`${what} config: "up_block_types" has ${c.up_block_types.length} entries; needs ${known} (${n})`);
  }
  for (let i = 0; i < n; i++) {
    const down = c.down_block_types[i];
    const up = c.up_block_types[n - 1 - i];
    if ((down === "CrossAttnDownBlock2D") !== (up === "CrossAttnUpBlock2D")) {
      throw new ConfigError(
        `${what} config: level ${i} has down block ${show(down)} but up block ${show(up)} (up_block_types[${n - 1 - i}]); ` +
          `this project supports cross-attention on matching levels only`,
      );
    }
  }
  const heads = unetHeads(c);
  if (heads.length !== n) {
    throw new ConfigError(`${what} config: "attention_head_dim"/"num_attention_heads" lists ${heads.length} levels; needs ${known} (${n})`);
  }
  for (let i = 0; i < n; i++) {
    const ch = block_out_channels[i];
    if (ch % c.norm_num_groups !== 0) {
      throw new ConfigError(`${what} config: block_out_channels[${i}] = ${ch} is not divisible by "norm_num_groups" = ${c.norm_num_groups}`);
    }
    if (ch % heads[i] !== 0) {
      throw new ConfigError(`${what} config: block_out_channels[${i}] = ${ch} is not divisible by its head count ${heads[i]}`);
    }
  }
  if (block_out_channels[0] % 2 !== 0) {
    throw new ConfigError(`${what} config: block_out_channels[0] = ${block_out_channels[0]} must be even (it is the sinusoidal timestep embedding's width)`);
  }
  unetAdditionEmbedding(c);
  return c;
}

/** Parses a diffusers `vae/config.json` object (defaults: `AutoencoderKL.__init__`). */
export function parseVaeConfig(raw: unknown): VaeConfig {
  const what = "AutoencoderKL";
  const r = new Reader(asObject(raw, what), what);
  r.checkClass(what);
  const block_out_channels = r.ints("block_out_channels", [64]);
  const n = block_out_channels.length;
  const c: VaeConfig = {
    _class_name: "AutoencoderKL",
    in_channels: r.int("in_channels", 3),
    out_channels: r.int("out_channels", 3),
    latent_channels: r.int("latent_channels", 4),
    down_block_types: r.strings("down_block_types", ["DownEncoderBlock2D"] as const, ["DownEncoderBlock2D"]),
    up_block_types: r.strings("up_block_types", ["UpDecoderBlock2D"] as const, ["UpDecoderBlock2D"]),
    block_out_channels,
    layers_per_block: r.int("layers_per_block", 1),
    norm_num_groups: r.int("norm_num_groups", 32),
    act_fn: r.oneOf("act_fn", ["silu"] as const, "silu"),
    sample_size: r.int("sample_size", 32),
    scaling_factor: r.num("scaling_factor", 0.18215),
    mid_block_add_attention: r.bool("mid_block_add_attention", true),
  };
  r.onlyDefault("shift_factor", [0]);
  r.onlyDefault("use_quant_conv", [true]);
  r.onlyDefault("use_post_quant_conv", [true]);
  // float16 numerics of the reference implementation, and statistics unused by SD 1.x: no effect here.
  r.ignore("force_upcast", "latents_mean", "latents_std");
  r.rejectUnknown();
  if (c.down_block_types.length !== n || c.up_block_types.length !== n) {
    throw new ConfigError(
      `${what} config: "down_block_types" (${c.down_block_types.length}) and "up_block_types" (${c.up_block_types.length}) ` +
        `need the same number of entries as block_out_channels (${n})`,
    );
  }
  for (let i = 0; i < n; i++) {
    if (block_out_channels[i] % c.norm_num_groups !== 0) {
      throw new ConfigError(`${what} config: block_out_channels[${i}] = ${block_out_channels[i]} is not divisible by "norm_num_groups" = ${c.norm_num_groups}`);
    }
  }
  return c;
}

/**
 * Parses a transformers `text_encoder/config.json` object (defaults: `CLIPTextConfig.__init__`).
 * transformers writes many generic keys (token ids, dropout, dtype, versions) that do not change
 * the forward pass at inference, so unknown keys are ignored here; the ones used are validated.
 */
export function parseClipTextConfig(raw: unknown): ClipTextConfig {
  const what = "CLIPTextModel";
  const obj = asObject(raw, what);
  const r = new Reader(obj, what);
  const arch = obj["architectures"];
  if (Array.isArray(arch) && arch.length && !arch.includes("CLIPTextModel") && !arch.includes("CLIPTextModelWithProjection")) {
    throw new ConfigError(`${what} config: "architectures" = ${show(arch)}; expected ["CLIPTextModel"]`);
  }
  r.onlyDefault("model_type", ["clip_text_model"]);
  const c: ClipTextConfig = {
    vocab_size: r.int("vocab_size", 49408),
    hidden_size: r.int("hidden_size", 512),
    intermediate_size: r.int("intermediate_size", 2048),
    num_hidden_layers: r.int("num_hidden_layers", 12),
    num_attention_heads: r.int("num_attention_heads", 8),
    max_position_embeddings: r.int("max_position_embeddings", 77),
    hidden_act: r.oneOf("hidden_act", ["quick_gelu", "gelu"] as const, "quick_gelu"),
    layer_norm_eps: r.num("layer_norm_eps", 1e-5),
    projection_dim: r.int("projection_dim", 512),
  };
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new ConfigError(`${what} config: "hidden_size" = ${c.hidden_size} is not divisible by "num_attention_heads" = ${c.num_attention_heads}`);
  }
  return c;
}
