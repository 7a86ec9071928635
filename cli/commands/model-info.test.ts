import assert from "node:assert/strict";
import { test } from "node:test";
import { command } from "./model-info";

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const write = process.stdout.write.bind(process.stdout);
  const log = console.log;
  let out = "";
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  try {
    return { code: await command.run(argv), out };
  } finally {
    process.stdout.write = write;
    console.log = log;
  }
}

test("model-info --json prints the published SD 1.5 counts", async () => {
  const { code, out } = await capture(["--config", "sd15", "--json"]);
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out), { unet: 859520964, vae: 83653863, textEncoder: 123060480 });
});

test("model-info prints a table with the U-Net's FLOPs; bad input is a usage error", async () => {
  const { code, out } = await capture(["--config", "tiny", "--latent", "8"]);
  assert.equal(code, 0);
  // 5,497,252 for the plain structure + 29,824 for the text-time embedding: norm1 2·64, pooling
  // position 64, k/q/v 3·(64·64 + 64), proj 64·256 + 256, norm2 2·256
  assert.match(out, /unet\s+5,527,076/);
  assert.match(out, /U-Net forward at 8×8 latents, batch 1: [0-9.]+ GFLOP/);
  await assert.rejects(command.run([]), /--config is required/);
  await assert.rejects(
    command.run(["--config", "sd14"]),
    /neither a shipped config \(sd15, tiny\) nor a diffusers folder/,
  );
});
