import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { inCache, objectPath, saveToCache } from "./cache";
import { hashPath, md5 } from "./hash";
import { repro } from "./repro";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "dvc-cache-"));

test("a file is saved where DVC 3 keeps it: .dvc/cache/files/md5/<2>/<30>, read-only", () => {
  const root = tmp();
  const f = path.join(root, "hello.txt");
  fs.writeFileSync(f, "hello\n");
  const h = hashPath(f)!;
  // md5("hello\n"), the coreutils value
  assert.equal(h.md5, "b1946ac92492d2347c6235b4d2611184");
  assert.equal(inCache(root, h), false);
  assert.equal(saveToCache(root, f, h), 1);
  const obj = path.join(root, ".dvc", "cache", "files", "md5", "b1", "946ac92492d2347c6235b4d2611184");
  assert.equal(objectPath(root, h.md5), obj);
  assert.equal(fs.readFileSync(obj, "utf8"), "hello\n");
  assert.equal(fs.statSync(obj).mode & 0o777, 0o444);
  assert.ok(inCache(root, h));
  assert.equal(saveToCache(root, f, h), 0, "saved once");
});

test("a directory is saved as its files plus the .dir listing whose md5 names it", () => {
  const root = tmp();
  const d = path.join(root, "out");
  fs.mkdirSync(path.join(d, "sub"), { recursive: true });
  fs.writeFileSync(path.join(d, "a.txt"), "a");
  fs.writeFileSync(path.join(d, "sub", "b.txt"), "b");
  const h = hashPath(d)!;
  assert.equal(saveToCache(root, d, h), 3);
  const listing = fs.readFileSync(objectPath(root, h.md5));
  assert.equal(md5(listing) + ".dir", h.md5);
  assert.deepEqual(JSON.parse(listing.toString()), [
    { md5: md5("a"), relpath: "a.txt" },
    { md5: md5("b"), relpath: "sub/b.txt" },
  ]);
  assert.ok(inCache(root, h));
  fs.chmodSync(objectPath(root, md5("b")), 0o644);
  fs.rmSync(objectPath(root, md5("b")));
  assert.equal(inCache(root, h), false, "a listed file missing from the cache");
  fs.writeFileSync(path.join(d, "a.txt"), "changed");
  assert.throws(() => saveToCache(root, d, h), /changed while it was being saved/);
});

test("repro saves cached outputs (not cache: false ones) and data sources, and fills in what an older run left out", async () => {
  const root = tmp();
  fs.writeFileSync(
    path.join(root, "dvc.yaml"),
    `stages:
  make:
    cmd: mkdir -p out && echo one > out/one.txt && echo log > log.txt
    deps:
    - data
    outs:
    - out
    - log.txt:
        cache: false
`,
  );
  fs.mkdirSync(path.join(root, "data"));
  fs.writeFileSync(path.join(root, "data", "x.txt"), "x");
  fs.writeFileSync(path.join(root, "data.dvc"), "outs:\n- md5: 0\n  size: 1\n  hash: md5\n  path: data\n");
  const quiet = { root, log: () => {}, stdio: "ignore" as const };
  assert.equal((await repro(quiet)).exitCode, 0);
  const out = hashPath(path.join(root, "out"))!;
  assert.ok(inCache(root, out), "the stage's cached output");
  assert.ok(inCache(root, hashPath(path.join(root, "data"))!), "the data source");
  assert.equal(inCache(root, hashPath(path.join(root, "log.txt"))!), false, "cache: false stays out");
  fs.rmSync(path.join(root, ".dvc", "cache"), { recursive: true, force: true });
  const second = await repro(quiet);
  assert.deepEqual(
    second.stages.map((s) => s.status),
    ["skipped"],
  );
  assert.ok(inCache(root, out), "saved again although the stage did not run");
});
