/**
 * The CLIP text encoder Stable Diffusion conditions on (Radford et al. 2021; transformers
 * `CLIPTextModel`): token + position embeddings, pre-LayerNorm transformer layers with a causal
 * mask, MLP with quick-GELU (or GELU), final LayerNorm → last_hidden_state [B, S, hidden].
 */
import * as tf from "@tensorflow/tfjs-core";
import { ClipTextConfig } from "./config";
import { attention, embeddingLookup, gelu, layerNormP, linear, param, quickGelu } from "./layers";
import { ParamSpec, Params } from "./params";
import { SpecBuilder } from "./spec-builder";

/** Every parameter of the text encoder, by transformers name, in tfjs layout (no allocation). */
export function clipTextParamSpecs(config: ClipTextConfig): ParamSpec[] {
  const c = config;
  const s = new SpecBuilder();
  const D = c.hidden_size;
  s.embedding("text_model.embeddings.token_embedding", c.vocab_size, D);
  s.embedding("text_model.embeddings.position_embedding", c.max_position_embeddings, D);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    s.linear(`${p}.self_attn.k_proj`, D, D);
    s.linear(`${p}.self_attn.v_proj`, D, D);
    s.linear(`${p}.self_attn.q_proj`, D, D);
    s.linear(`${p}.self_attn.out_proj`, D, D);
    s.norm(`${p}.layer_norm1`, D);
    s.linear(`${p}.mlp.fc1`, D, c.intermediate_size);
    s.linear(`${p}.mlp.fc2`, c.intermediate_size, D);
    s.norm(`${p}.layer_norm2`, D);
  }
  s.norm("text_model.final_layer_norm", D);
  return s.specs;
}

/**
 * The additive causal mask [S, S]: 0 on and below the diagonal, a large negative number above
 * (transformers `_create_4d_causal_attention_mask` uses the dtype's minimum; after softmax both are 0).
 */
export function causalMask(S: number): tf.Tensor2D {
  const m = new Float32Array(S * S);
  for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) m[i * S + j] = -1e9;
  return tf.tensor2d(m, [S, S]);
}

/**
 * last_hidden_state of `CLIPTextModel.forward` (no attention mask: Stable Diffusion pads prompts to 77 tokens):
 * 1. x = token_embedding[ids] + position_embedding[0..S);
 * 2. per layer: x += out_proj(attn(LN1(x), causal)); x += fc2(act(fc1(LN2(x))));
 * 3. final LayerNorm.
 * inputIds [B, S] int32, S ≤ max_position_embeddings → [B, S, hidden_size].
 */
export function clipTextForward(params: Params, config: ClipTextConfig, inputIds: tf.Tensor2D): tf.Tensor3D {
  const c = config;
  if (inputIds.rank !== 2) throw new Error(`clipTextForward: inputIds must be [B, S] token ids, got shape [${inputIds.shape}]`);
  const [B, S] = inputIds.shape;
  if (S > c.max_position_embeddings) {
    throw new Error(`clipTextForward: ${S} tokens exceed max_position_embeddings = ${c.max_position_embeddings}; truncate the prompt`);
  }
  const D = c.hidden_size;
  const eps = c.layer_norm_eps;
  const act = c.hidden_act === "quick_gelu" ? quickGelu : gelu;
  return tf.tidy(() => {
    // 1. embeddings (a gather whose gradient is a scatter-add)
    const ids = tf.cast(tf.reshape(inputIds, [B * S]), "int32") as tf.Tensor1D;
    const table = param(params, "text_model.embeddings.token_embedding.weight") as tf.Tensor as tf.Tensor2D;
    const tok = tf.reshape(embeddingLookup(table, ids), [B, S, D]);
    const pos = tf.slice(param(params, "text_model.embeddings.position_embedding.weight"), [0, 0], [S, D]);
    let x = tf.add(tok, pos) as tf.Tensor3D;
    const mask = causalMask(S);

    // 2. encoder layers
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const p = `text_model.encoder.layers.${i}`;
      const h = layerNormP(params, `${p}.layer_norm1`, x, eps);
      const q = linear(params, `${p}.self_attn.q_proj`, h) as tf.Tensor3D;
      const k = linear(params, `${p}.self_attn.k_proj`, h) as tf.Tensor3D;
      const v = linear(params, `${p}.self_attn.v_proj`, h) as tf.Tensor3D;
      x = tf.add(x, linear(params, `${p}.self_attn.out_proj`, attention(q, k, v, c.num_attention_heads, mask))) as tf.Tensor3D;
      const m = linear(params, `${p}.mlp.fc2`, act(linear(params, `${p}.mlp.fc1`, layerNormP(params, `${p}.layer_norm2`, x, eps))));
      x = tf.add(x, m) as tf.Tensor3D;
    }

    // 3. final LayerNorm
    return layerNormP(params, "text_model.final_layer_norm", x, eps) as tf.Tensor3D;
  });
}
