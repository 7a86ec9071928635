/**
 * The two shipped configurations, as diffusers / transformers `config.json` files:
 * - `sd15`: Stable Diffusion 1.5's exact configs (runwayml/stable-diffusion-v1-5: `unet/`, `vae/`,
 *   `text_encoder/`; the text encoder is OpenAI CLIP ViT-L/14's);
 * - `tiny`: the same structure at small width, trained by this project on CPU.
 */
import { ClipTextConfig, parseClipTextConfig, parseUNetConfig, parseVaeConfig, UNetConfig, VaeConfig } from "../config";
import sd15TextEncoder from "./sd15/text_encoder/config.json";
import sd15Unet from "./sd15/unet/config.json";
import sd15Vae from "./sd15/vae/config.json";
import tinyTextEncoder from "./tiny/text_encoder/config.json";
import tinyUnet from "./tiny/unet/config.json";
import tinyVae from "./tiny/vae/config.json";

/** The parsed configs of Stable Diffusion's three networks. */
export interface ComponentConfigs {
  unet: UNetConfig;
  vae: VaeConfig;
  textEncoder: ClipTextConfig;
}

export const SHIPPED_CONFIG_NAMES = ["sd15", "tiny"] as const;
export type ShippedConfigName = (typeof SHIPPED_CONFIG_NAMES)[number];

const RAW: Record<ShippedConfigName, { unet: unknown; vae: unknown; text_encoder: unknown }> = {
  sd15: { unet: sd15Unet, vae: sd15Vae, text_encoder: sd15TextEncoder },
  tiny: { unet: tinyUnet, vae: tinyVae, text_encoder: tinyTextEncoder },
};

export function isShippedConfigName(name: string): name is ShippedConfigName {
  return (SHIPPED_CONFIG_NAMES as readonly string[]).includes(name);
}

/** The raw `config.json` objects of a shipped configuration (deep copies, safe to edit). */
export function shippedRawConfigs(name: ShippedConfigName): { unet: unknown; vae: unknown; text_encoder: unknown } {
  const r = RAW[name];
  if (!r) throw new Error(`unknown shipped config "${name}"; known: ${SHIPPED_CONFIG_NAMES.join(", ")}`);
  return JSON.parse(JSON.stringify(r));
}

/** The parsed configs of a shipped configuration. */
export function shippedConfigs(name: ShippedConfigName): ComponentConfigs {
  const r = shippedRawConfigs(name);
  return { unet: parseUNetConfig(r.unet), vae: parseVaeConfig(r.vae), textEncoder: parseClipTextConfig(r.text_encoder) };
}
