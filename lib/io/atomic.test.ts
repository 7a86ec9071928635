import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writeFileAtomic } from "./atomic";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes(".tmp-"));

test("writes strings, bytes and chunk sequences; creates folders; replaces the old file", () => {
  const file = path.join(tmp, "a", "b", "out.txt");
  writeFileAtomic(file, "héllo");
  assert.equal(fs.readFileSync(file, "utf8"), "héllo");
  writeFileAtomic(file, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
  function* chunks() {
    yield new Uint8Array([4]);
    yield new Uint8Array(0);
    yield new Uint8Array([5, 6]);
  }
  writeFileAtomic(file, chunks());
  assert.deepEqual([...fs.readFileSync(file)], [4, 5, 6]);
  assert.deepEqual(temps(path.dirname(file)), []);
});

test("a failure while writing keeps the old file and removes the temp file", () => {
  const file = path.join(tmp, "keep.bin");
  writeFileAtomic(file, "old");
  function* failing() {
    yield new Uint8Array([1]);
    throw new Error("producer broke");
  }
  assert.throws(() => writeFileAtomic(file, failing()), /could not write .*keep\.bin: producer broke/);
  assert.equal(fs.readFileSync(file, "utf8"), "old");
  assert.deepEqual(temps(tmp), []);
});

test("an unwritable target is an error naming it", () => {
  const dirAsFile = path.join(tmp, "is-a-dir");
  fs.mkdirSync(dirAsFile);
  assert.throws(() => writeFileAtomic(dirAsFile, "x"), /could not write .*is-a-dir/);
  assert.deepEqual(temps(tmp), []);
});
