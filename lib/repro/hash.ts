/**
 * DVC 3's content hashes of files and directories (`hash: md5`).
 *
 * - A file: the plain md5 of its bytes (dvc-data `hashfile/hash.py`, algorithm "md5"). DVC 2's
 *   legacy "md5-dos2unix" (dvc.lock entries without `hash: md5`) first turns CRLF into LF in files
 *   that look like text (dvc-objects `fs/utils.py` `istextblock`: first 512 bytes, no NUL, at most
 *   30% bytes outside printable ASCII and \n\r\t\f\b).
 * - A directory: dvc-data `hashfile/build.py` `_build_tree` walks it (skipping `.git`, `.hg` and
 *   `.dvc` as DVC's default ignores, and what the repository's `.dvcignore` ignores (./ignore.ts);
 *   a `.dvcignore` inside is an error), and `hashfile/tree.py`
 *   `Tree.as_list` lists `{"md5": <file md5>, "relpath": "a/b.png"}` sorted by relpath (Python
 *   string order, i.e. by code point), `Tree.as_bytes` = `json.dumps(list, sort_keys=True)` in UTF-8,
 *   and `Tree.digest` = md5 of those bytes + ".dir". Its size is the sum of the file sizes and
 *   nfiles the number of files.
 * - `isexec: true` is recorded for a file whose owner-execute bit is set (dvc-data `Meta.to_dict`).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { DvcIgnore } from "./ignore";

export type HashName = "md5" | "md5-dos2unix";

/** A path's hash and meta as dvc.lock records them. */
export interface HashInfo {
  md5: string;
  size: number;
  /** directories only */
  nfiles?: number;
  /** files with the execute bit only */
  isexec?: boolean;
}

/** Names DVC never collects inside a directory (DvcIgnoreFilter's default patterns). */
const DEFAULT_IGNORES = new Set([".git", ".hg", ".dvc"]);

/** md5 hex of a byte buffer. */
export function md5(bytes: Uint8Array | string): string {
  return createHash("md5").update(bytes).digest("hex");
}

const TEXT_CHARS = new Set<number>([...Array.from({ length: 95 }, (_, i) => 32 + i), 10, 13, 9, 12, 8]);

/** dvc-objects `istextblock`: does this first block of a file look like text? */
export function isTextBlock(block: Uint8Array): boolean {
  if (block.length === 0) return true;
  let nontext = 0;
  for (const b of block) {
    if (b === 0) return false;
    if (!TEXT_CHARS.has(b)) nontext++;
  }
  return nontext / block.length <= 0.3;
}

/** The md5 of one file's bytes, under DVC's `md5` or legacy `md5-dos2unix` algorithm. */
export function md5File(file: string, name: HashName = "md5"): string {
  const bytes = fs.readFileSync(file);
  if (name === "md5-dos2unix" && isTextBlock(bytes.subarray(0, 512))) {
    return md5(Buffer.from(bytes.toString("latin1").replace(/\r\n/g, "\n"), "latin1"));
  }
  return md5(bytes);
}

/** Python's `json.dumps` string escaping with its default `ensure_ascii=True`. */
export function pyJsonString(s: string): string {
  // JSON.stringify escapes ", \, and control characters exactly as Python does (\n, \u001f, ...);
  // Python also escapes DEL and every non-ASCII UTF-16 code unit as \uxxxx in lower case.
  // (json.encoder ESCAPE_ASCII = `([\\"]|[^\ -~])`, so DEL, 0x7f, is escaped too.)
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** Compares strings by Unicode code point, as Python's `sorted` does. */
export function codePointCompare(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** One entry of a directory listing (`.dir` object). */
export interface DirEntry {
  relpath: string;
  md5: string;
}

/** The bytes DVC hashes for a directory: `json.dumps(sorted listing, sort_keys=True)`. */
export function dirListingJson(entries: DirEntry[]): string {
  const sorted = [...entries].sort((a, b) => codePointCompare(a.relpath, b.relpath));
  // json.dumps defaults: separators (", ", ": "); sort_keys puts "md5" before "relpath".
  return (
    "[" + sorted.map((e) => `{"md5": ${pyJsonString(e.md5)}, "relpath": ${pyJsonString(e.relpath)}}`).join(", ") + "]"
  );
}

/** Every file under `dir` (following symlinks), with its posix relpath, as DVC's walk collects them. */
export function listFiles(dir: string, ignore?: DvcIgnore): string[] {
  const out: string[] = [];
  const walk = (abs: string, rel: string) => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      if (DEFAULT_IGNORES.has(e.name)) continue;
      const a = path.join(abs, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const isDir = e.isDirectory() || (e.isSymbolicLink() && fs.statSync(a).isDirectory());
      if (ignore?.ignores(a, isDir)) continue;
      if (isDir) walk(a, r);
      else {
        if (e.name === ".dvcignore") throw new Error(`.dvcignore file should not be in collected dir path: '${a}'`);
        out.push(r);
      }
    }
  };
  walk(dir, "");
  return out;
}

/** A directory's files with their md5s, and their total size. */
export function dirEntries(
  dir: string,
  name: HashName = "md5",
  ignore?: DvcIgnore,
): { entries: DirEntry[]; size: number } {
  let size = 0;
  const entries: DirEntry[] = listFiles(dir, ignore).map((relpath) => {
    const abs = path.join(dir, ...relpath.split("/"));
    size += fs.statSync(abs).size;
    return { relpath, md5: md5File(abs, name) };
  });
  return { entries, size };
}

/** The hash of a directory: its `.dir` md5, total size and file count. */
export function hashDir(dir: string, name: HashName = "md5", ignore?: DvcIgnore): HashInfo {
  const { entries, size } = dirEntries(dir, name, ignore);
  return { md5: md5(Buffer.from(dirListingJson(entries), "utf8")) + ".dir", size, nfiles: entries.length };
}

/** The hash of a file or directory, or `undefined` when the path does not exist. */
export function hashPath(p: string, name: HashName = "md5", ignore?: DvcIgnore): HashInfo | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return undefined;
  }
  if (st.isDirectory()) return hashDir(p, name, ignore);
  const info: HashInfo = { md5: md5File(p, name), size: st.size };
  if (st.mode & 0o100) info.isexec = true;
  return info;
}
