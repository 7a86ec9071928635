/** `dreambooth model-info`: parameter counts of Stable Diffusion's three networks, from configs only. */
import { defineCommand } from "../command";
import { componentParamCounts, loadComponentConfigs, SHIPPED_CONFIG_NAMES, unetForwardFlops } from "../../lib/models";

export const command = defineCommand({
  name: "model-info",
  summary: "parameter counts of the U-Net, VAE and text encoder of a config (sd15, tiny or a diffusers folder)",
  description: `Counts the parameters of the U-Net, the VAE and the text encoder from their configs (nothing is
allocated). A folder is read as diffusers lays it out: unet/config.json, vae/config.json,
text_encoder/config.json. With --json: {"unet": n, "vae": n, "textEncoder": n}. Without: a table, and the
FLOPs of one U-Net forward.`,
  options: {
    config: {
      type: "string",
      required: true,
      value: `<${SHIPPED_CONFIG_NAMES.join("|")}|folder>`,
      help: "a shipped config or a diffusers folder",
    },
    latent: { type: "integer", min: 1, help: "latent side for the FLOPs (default: the config's sample_size)" },
    batch: { type: "integer", min: 1, default: 1, help: "batch for the FLOPs" },
    json: { type: "boolean", help: "print the counts as JSON" },
  },
  async run(o) {
    const configs = loadComponentConfigs(o.config);
    const counts = componentParamCounts(configs);
    if (o.json) {
      process.stdout.write(JSON.stringify(counts) + "\n");
      return 0;
    }
    const latent = o.latent ?? configs.unet.sample_size;
    const total = counts.unet + counts.vae + counts.textEncoder;
    const fmt = (n: number) => n.toLocaleString("en-US").padStart(15);
    console.log(`config: ${o.config}`);
    console.log(`  unet          ${fmt(counts.unet)}`);
    console.log(`  vae           ${fmt(counts.vae)}`);
    console.log(`  text encoder  ${fmt(counts.textEncoder)}`);
    console.log(`  total         ${fmt(total)}`);
    const flops = unetForwardFlops(configs.unet, { height: latent, width: latent, batch: o.batch });
    console.log(
      `U-Net forward at ${latent}×${latent} latents, batch ${o.batch}: ${(flops / 1e9).toFixed(3)} GFLOP (2 × multiply-adds)`,
    );
    return 0;
  },
});
