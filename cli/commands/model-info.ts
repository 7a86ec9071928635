/** `dreambooth model-info`: parameter counts of Stable Diffusion's three networks, from configs only. */
import { Command, bool, int, parseArgs, str, UsageError } from "../command";
import { componentParamCounts, loadComponentConfigs, SHIPPED_CONFIG_NAMES, unetForwardFlops } from "../../lib/models";

const usage = `usage: dreambooth model-info --config <${SHIPPED_CONFIG_NAMES.join("|")}|DIFFUSERS_FOLDER> [--latent N] [--batch B] [--json]

Counts the parameters of the U-Net, the VAE and the text encoder from their configs (nothing is
allocated). A folder is read as diffusers lays it out: unet/config.json, vae/config.json,
text_encoder/config.json. With --json: {"unet": n, "vae": n, "textEncoder": n}.
Without: a table, and the FLOPs of one U-Net forward at --latent N×N (default: the config's
sample_size) for --batch B (default 1).`;

export const command: Command = {
  name: "model-info",
  summary: "parameter counts of the U-Net, VAE and text encoder of a config (sd15, tiny or a diffusers folder)",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["config", "latent", "batch"], ["json"]);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"\n${usage}`);
    const name = str(args, "config");
    if (!name) throw new UsageError(`--config is required: ${SHIPPED_CONFIG_NAMES.join(", ")} or a diffusers folder`);
    const configs = loadComponentConfigs(name);
    const counts = componentParamCounts(configs);
    if (bool(args, "json")) {
      process.stdout.write(JSON.stringify(counts) + "\n");
      return 0;
    }
    const latent = int(args, "latent", configs.unet.sample_size)!;
    const batch = int(args, "batch", 1)!;
    if (latent < 1 || batch < 1) throw new UsageError(`--latent and --batch must be ≥ 1 (got ${latent}, ${batch})`);
    const total = counts.unet + counts.vae + counts.textEncoder;
    const fmt = (n: number) => n.toLocaleString("en-US").padStart(15);
    console.log(`config: ${name}`);
    console.log(`  unet          ${fmt(counts.unet)}`);
    console.log(`  vae           ${fmt(counts.vae)}`);
    console.log(`  text encoder  ${fmt(counts.textEncoder)}`);
    console.log(`  total         ${fmt(total)}`);
    const flops = unetForwardFlops(configs.unet, { height: latent, width: latent, batch });
    console.log(`U-Net forward at ${latent}×${latent} latents, batch ${batch}: ${(flops / 1e9).toFixed(3)} GFLOP (2 × multiply-adds)`);
    return 0;
  },
};
