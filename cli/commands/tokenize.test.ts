import { test } from "node:test";
import assert from "node:assert/strict";
import { command } from "./tokenize";
import { UsageError } from "../command";

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  try {
    const code = await command.run(argv);
    return { code, out };
  } finally {
    process.stdout.write = write;
  }
}

test("tokenize --json prints the 77 ids of the paper's instance prompt", async () => {
  const { code, out } = await capture(["a photo of sks person", "--json"]);
  assert.equal(code, 0);
  const ids = JSON.parse(out) as number[];
  assert.equal(ids.length, 77);
  // 49406 <|startoftext|>, a=320, photo=1125, of=539, sks=48136, person=2533 (see lib/tokenizer/clip.test.ts), 49407 end + padding
  assert.deepEqual(ids.slice(0, 8), [49406, 320, 1125, 539, 48136, 2533, 49407, 49407]);
});

test("tokenize without --json prints 77 space-separated ids; bad arguments are usage errors", async () => {
  const { out } = await capture(["a photo"]);
  assert.equal(out.trim().split(" ").length, 77);
  await assert.rejects(command.run([]), UsageError);
  await assert.rejects(command.run(["a", "--bogus"]), /unknown option --bogus/);
});
