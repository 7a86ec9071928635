import { test } from "node:test";
import assert from "node:assert/strict";
import { main } from "../main";
import { makeSchedule } from "../../lib/schedules";

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const ow = process.stdout.write.bind(process.stdout);
  const log = console.log;
  const error = console.error;
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void (err += a.join(" ") + "\n");
  try {
    return { code: await main(argv), out, err };
  } finally {
    process.stdout.write = ow;
    console.log = log;
    console.error = error;
  }
}

test("dreambooth schedule --json prints exactly the library's numbers", async () => {
  for (const [kind, zt] of [
    ["sigmoid", true],
    ["scaled_linear", false],
    ["cosine", true],
  ] as const) {
    const argv = ["schedule", "--kind", kind, "--json", ...(zt ? ["--zero-terminal-snr"] : [])];
    const { code, out } = await capture(argv);
    assert.equal(code, 0);
    const j = JSON.parse(out);
    const s = makeSchedule({ kind, zeroTerminalSnr: zt });
    assert.deepEqual(Object.keys(j), ["betas", "alphasCumprod", "snr"]);
    assert.equal(j.betas.length, 1000);
    assert.deepEqual(j.betas, Array.from(s.betas));
    assert.deepEqual(j.alphasCumprod, Array.from(s.alphasCumprod));
    assert.deepEqual(j.snr, Array.from(s.snr));
  }
});

test("dreambooth schedule: options reach the library; bad input is a one-line error with exit code 2", async () => {
  const { out } = await capture([
    "schedule",
    "--kind",
    "linear",
    "--timesteps",
    "10",
    "--beta-start",
    "0.001",
    "--beta-end=0.1",
    "--json",
  ]);
  const j = JSON.parse(out);
  assert.equal(j.betas.length, 10);
  assert.equal(j.betas[0], 0.001);
  assert.equal(j.betas[9], 0.1);
  const bad = await capture(["schedule", "--kind", "linear", "--beta-start", "0.02", "--beta-end", "0.001"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /betaEnd \(0.001\) < betaStart \(0.02\)/);
  const unknown = await capture(["schedule", "--kind", "wavy"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.err,
    /--kind must be one of: linear, scaled_linear, cosine, sigmoid, sigmoid-chen \(got "wavy"\)/,
  );
  const missing = await capture(["schedule"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /--kind is required/);
  const typo = await capture(["schedule", "--kind", "linear", "--zero-terminal"]);
  assert.equal(typo.code, 2);
  assert.match(typo.err, /unknown option --zero-terminal/);
});
