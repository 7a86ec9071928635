import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DvcIgnore } from "./ignore";
import { hashDir, listFiles } from "./hash";

const PATTERNS = [
  "# a comment",
  "*.test.ts",
  "testdata/",
  "/build",
  "docs/*.md",
  "**/cache",
  "a/**/z.txt",
  "*.log",
  "!keep.log",
  "[ab]c.txt",
  "q?.txt",
];
// files (and, with a trailing slash, folders) to ask about
const PATHS = [
  "lib/x.test.ts",
  "x.test.ts",
  "lib/x.ts",
  "lib/m/testdata/",
  "lib/m/testdata/w.bin",
  "testdata",
  "build/",
  "build/o.js",
  "lib/build/",
  "lib/build/o.js",
  "docs/a.md",
  "docs/sub/a.md",
  "lib/docs/a.md",
  "cache/",
  "deep/er/cache/f",
  "a/z.txt",
  "a/b/c/z.txt",
  "b/a/z.txt",
  "x.log",
  "lib/keep.log",
  "keep.log",
  "ac.txt",
  "bc.txt",
  "cc.txt",
  "q1.txt",
  "q12.txt",
];

test(".dvcignore patterns match what git's own wildmatch matches (git check-ignore as the reference)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dvcignore-"));
  spawnSync("git", ["init", "-q", dir]);
  fs.writeFileSync(path.join(dir, ".gitignore"), PATTERNS.join("\n") + "\n");
  const ig = new DvcIgnore(dir, PATTERNS);
  for (const p of PATHS) {
    const isDir = p.endsWith("/");
    const rel = p.replace(/\/$/, "");
    const abs = path.join(dir, ...rel.split("/"));
    fs.mkdirSync(isDir ? abs : path.dirname(abs), { recursive: true });
    if (!isDir) fs.writeFileSync(abs, "x");
    const r = spawnSync("git", ["check-ignore", "-q", "--no-index", rel], { cwd: dir });
    assert.ok(r.status === 0 || r.status === 1, `git check-ignore failed on ${rel}: ${r.stderr}`);
    assert.equal(
      ig.ignores(abs, isDir),
      r.status === 0,
      `${p}: git says ${r.status === 0 ? "ignored" : "not ignored"}`,
    );
  }
});

test("a directory's hash leaves out what .dvcignore ignores, as DVC's does", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dvcignore-hash-"));
  const lib = path.join(root, "lib");
  fs.mkdirSync(path.join(lib, "testdata"), { recursive: true });
  fs.writeFileSync(path.join(lib, "a.ts"), "export const a = 1;\n");
  const before = hashDir(lib);
  fs.writeFileSync(path.join(lib, "a.test.ts"), "test\n");
  fs.writeFileSync(path.join(lib, "testdata", "f.bin"), "fixture\n");
  const ig = new DvcIgnore(root, ["*.test.ts", "testdata/"]);
  assert.deepEqual(listFiles(lib, ig), ["a.ts"]);
  assert.deepEqual(hashDir(lib, "md5", ig), before);
  assert.notDeepEqual(hashDir(lib), before, "without the filter the tests count");
  assert.ok(DvcIgnore.load(path.join(root, "nowhere")).empty, "no .dvcignore: nothing ignored");
});
