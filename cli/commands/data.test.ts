import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import { command } from "./data";
import { UsageError } from "../command";
import { readMetadata, readPackedDataset } from "../../lib/data";

async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  let out = "";
  const [o, e] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string) => ((out += c), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { value: await fn(), out };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

test("data writes the three splits and the instance images, and reports the count and rate", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "data-cmd-"));
  try {
    const { value, out } = await quiet(() =>
      command.run(["--out", dir, "--size", "32", "--train", "3", "--val", "2", "--test", "1", "--seed", "4"]),
    );
    assert.equal(value, 0);
    assert.match(out, /wrote 6 faces \(train 3, val 2, test 1\) at 32×32/);
    assert.match(out, /5 instance images/);
    assert.equal(readMetadata(path.join(dir, "faces", "train")).length, 3);
    assert.equal(readMetadata(path.join(dir, "faces", "val")).length, 2);
    assert.equal(readMetadata(path.join(dir, "faces", "test")).length, 1);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, "instance", "metadata.json"), "utf8"));
    assert.equal(meta.prompt, "a photo of sks person");
    assert.equal(meta.size, 32);
    // packed format
    await quiet(() =>
      command.run(["--out", dir, "--size", "16", "--train", "2", "--val", "0", "--test", "0", "--format", "packed"]),
    );
    assert.equal(readPackedDataset(path.join(dir, "faces", "train.pack")).count, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("bad arguments are usage errors that name the flag", async () => {
  await assert.rejects(command.run(["--size", "abc"]), /--size must be a number/);
  await assert.rejects(command.run(["--size", "4"]), /--size must be at least 8 \(got 4\)/);
  await assert.rejects(command.run(["--train=-1"]), /--train must be at least 0/);
  await assert.rejects(
    command.run(["--train", "-1"]),
    /--train needs a value \(for a value that starts with "-", write --train=-…\)/,
  );
  await assert.rejects(command.run(["--format", "zip"]), /--format must be one of: png, packed/);
  await assert.rejects(command.run(["extra"]), UsageError);
  await assert.rejects(command.run(["--bogus", "1"]), /unknown option --bogus/);
});
