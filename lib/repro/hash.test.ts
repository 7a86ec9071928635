import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { dirListingJson, hashDir, hashPath, md5File, pyJsonString } from "./hash";
import { readDvcFile, writeDvcFile } from "./lock";

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "repro-hash-"));
}

/** Files whose relpaths sort differently as strings ("a-b" < "a/c") than as path tuples, plus a non-ASCII name. */
function makeDir(): string {
  const d = tmp();
  fs.mkdirSync(path.join(d, "a"));
  fs.writeFileSync(path.join(d, "a-b.txt"), "one\n");
  fs.writeFileSync(path.join(d, "a", "c.txt"), "two\n");
  fs.writeFileSync(path.join(d, "b.txt"), "three");
  fs.writeFileSync(path.join(d, "é.txt"), "é");
  return d;
}

const md5 = (s: string | Buffer) => createHash("md5").update(s).digest("hex");

test("a file's hash is the plain md5 of its bytes (DVC 3, hash: md5)", () => {
  const d = tmp();
  const f = path.join(d, "x.txt");
  fs.writeFileSync(f, "a\r\nb\n");
  // RFC 1321 test suite: md5("abc") = 900150983cd24fb0d6963f7d28e17f72.
  fs.writeFileSync(path.join(d, "abc"), "abc");
  assert.equal(md5File(path.join(d, "abc")), "900150983cd24fb0d6963f7d28e17f72");
  assert.equal(md5File(f), md5("a\r\nb\n"));
  // DVC 2's md5-dos2unix turns CRLF into LF in text files first.
  assert.equal(md5File(f, "md5-dos2unix"), md5("a\nb\n"));
  assert.deepEqual(hashPath(f), { md5: md5("a\r\nb\n"), size: 5 });
  assert.equal(hashPath(path.join(d, "missing")), undefined);
});

test("a directory's hash is md5(json.dumps(sorted [{md5, relpath}], sort_keys=True)) + '.dir'", () => {
  const d = makeDir();
  // Built here by hand from dvc-data Tree.as_bytes: json.dumps defaults (", " and ": " separators,
  // ensure_ascii escapes é as \u00e9), entries sorted by relpath as strings.
  const listing =
    `[{"md5": "${md5("one\n")}", "relpath": "a-b.txt"}, ` +
    `{"md5": "${md5("two\n")}", "relpath": "a/c.txt"}, ` +
    `{"md5": "${md5("three")}", "relpath": "b.txt"}, ` +
    `{"md5": "${md5("é")}", "relpath": "\\u00e9.txt"}]`;
  const h = hashDir(d);
  assert.equal(h.md5, md5(listing) + ".dir");
  assert.equal(h.size, 4 + 4 + 5 + 2);
  assert.equal(h.nfiles, 4);
  // Golden value from CPython 3: hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest()
  // over the same four files, walked with os.walk.
  assert.equal(h.md5, "965cf305ef97fcba6fbff24e4d94d224.dir");
});

test("the listing JSON escapes like Python's json.dumps and ignores .git/.dvc", () => {
  assert.equal(pyJsonString('q"\\\n\u007f😀'), '"q\\"\\\\\\n\\u007f\\ud83d\\ude00"');
  assert.equal(
    dirListingJson([
      { relpath: "b", md5: "2" },
      { relpath: "a", md5: "1" },
    ]),
    '[{"md5": "1", "relpath": "a"}, {"md5": "2", "relpath": "b"}]',
  );
  const d = makeDir();
  const before = hashDir(d).md5;
  fs.mkdirSync(path.join(d, ".git"));
  fs.writeFileSync(path.join(d, ".git", "HEAD"), "x");
  assert.equal(hashDir(d).md5, before);
  fs.writeFileSync(path.join(d, "new.txt"), "x");
  assert.notEqual(hashDir(d).md5, before);
});

test("writeDvcFile writes what `dvc add data` writes, and reads back", () => {
  const root = tmp();
  const d = makeDir();
  const data = path.join(root, "data");
  fs.renameSync(d, data);
  const out = writeDvcFile(data);
  const text = fs.readFileSync(data + ".dvc", "utf8");
  assert.equal(
    text,
    `outs:\n- md5: 965cf305ef97fcba6fbff24e4d94d224.dir\n  size: 15\n  nfiles: 4\n  hash: md5\n  path: data\n`,
  );
  assert.deepEqual(readDvcFile(data + ".dvc"), [out]);
});

test("hashing a few thousand small files is quick", () => {
  const d = tmp();
  for (let i = 0; i < 40; i++) {
    fs.mkdirSync(path.join(d, `d${i}`));
    for (let j = 0; j < 50; j++) fs.writeFileSync(path.join(d, `d${i}`, `f${j}.bin`), `${i}-${j}`);
  }
  const t0 = performance.now();
  const h = hashDir(d);
  const ms = performance.now() - t0;
  assert.equal(h.nfiles, 2000);
  assert.ok(ms < 5000, `hashing 2000 files took ${ms.toFixed(0)} ms`);
});
