import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";

test("lib/kernels/simd/binaries.ts is what scripts/build-wasm.cjs assembles from the .wat sources (not stale)", async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { generate, out } = require("../../../scripts/build-wasm.cjs") as { generate: () => Promise<string>; out: string };
  const fresh = await generate();
  assert.ok(fresh.includes("export const groupnorm = "), "no groupnorm module assembled");
  assert.equal(fs.readFileSync(out, "utf8"), fresh, "binaries.ts is stale: run node scripts/build-wasm.cjs");
});
