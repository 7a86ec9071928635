/**
 * DVC 3's local cache, as `dvc repro` and `dvc commit` leave it: every cached output saved under
 * `.dvc/cache/files/md5/<first two hex digits>/<the other thirty>` (dvc-data `LocalHashFileDB.oid_to_path`),
 * a directory as its files plus a `<md5>.dir` object holding the listing whose md5 names it (the bytes
 * of ./hash.ts `dirListingJson`), each object read-only (`CACHE_MODE = 0o444`: DVC trusts a read-only
 * object without hashing it again). With the outputs in the cache, `dvc status` finds nothing to do,
 * and `dvc checkout` and `dvc push` work on a repository the built-in runner reproduced.
 * Objects are copied, as DVC's default `cache.type` (reflink, else copy) does on most file systems.
 */
import * as fs from "fs";
import * as path from "path";
import { dirEntries, dirListingJson, HashInfo, md5 } from "./hash";
import type { DvcIgnore } from "./ignore";

/** The object folder of the repository's cache (DVC 3's default `cache.dir`). */
export function objectDir(root: string): string {
  return path.join(root, ".dvc", "cache", "files", "md5");
}

/** Where an object with this md5 (`…` or `….dir`) lives in the cache. */
export function objectPath(root: string, oid: string): string {
  return path.join(objectDir(root), oid.slice(0, 2), oid.slice(2));
}

const CACHE_MODE = 0o444;

/** Writes one object from `bytes` or by copying `source`, atomically, read-only; a no-op if present. */
function putObject(root: string, oid: string, from: { source: string } | { bytes: Buffer }): boolean {
  const dest = objectPath(root, oid);
  if (fs.existsSync(dest)) return false;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.${process.pid}.tmp`;
  if ("source" in from) fs.copyFileSync(from.source, tmp);
  else fs.writeFileSync(tmp, from.bytes);
  fs.chmodSync(tmp, CACHE_MODE);
  fs.renameSync(tmp, dest);
  return true;
}

/**
 * Saves a file or directory whose hash is `info` into the cache (what `dvc commit` does for an
 * output) and returns the number of objects written. The directory's listing is rebuilt from the
 * files now on disk and must hash to `info.md5`, so an output that changed since it was hashed is
 * an error rather than a wrong cache entry.
 */
export function saveToCache(root: string, abs: string, info: HashInfo, ignore?: DvcIgnore): number {
  if (!info.md5.endsWith(".dir")) return putObject(root, info.md5, { source: abs }) ? 1 : 0;
  const { entries } = dirEntries(abs, "md5", ignore);
  const listing = Buffer.from(dirListingJson(entries), "utf8");
  if (md5(listing) + ".dir" !== info.md5)
    throw new Error(`'${path.relative(root, abs)}' changed while it was being saved to the DVC cache`);
  let written = 0;
  for (const e of entries) if (putObject(root, e.md5, { source: path.join(abs, ...e.relpath.split("/")) })) written++;
  if (putObject(root, info.md5, { bytes: listing })) written++;
  return written;
}

/** Whether the cache holds an output with this hash: the object, and for a directory every file it lists. */
export function inCache(root: string, info: HashInfo): boolean {
  const p = objectPath(root, info.md5);
  if (!fs.existsSync(p)) return false;
  if (!info.md5.endsWith(".dir")) return true;
  let listing: { md5: string }[];
  try {
    listing = JSON.parse(fs.readFileSync(p, "utf8")) as { md5: string }[];
  } catch {
    return false;
  }
  return listing.every((e) => fs.existsSync(objectPath(root, e.md5)));
}
