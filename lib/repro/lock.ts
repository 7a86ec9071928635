/**
 * dvc.lock and `.dvc` files, read and written as DVC 3 does.
 *
 * dvc.lock (`schema: '2.0'`, DVC `dvc/dvcfile.py` Lockfile + `dvc/stage/serialize.py`
 * `to_single_stage_lockfile`): per stage, in this key order,
 *   cmd; deps (sorted by path), each `path, hash: md5, md5, size[, nfiles][, isexec]`;
 *   params grouped by file, params.yaml first then other files alphabetically, keys sorted
 *   (`_serialize_params_values`); outs (outs, metrics and plots together, sorted by path), same shape as deps.
 * Other stages' entries are kept as they are; new stages are appended (DVC's `Lockfile.dump` updates
 * the stage's entry in the loaded mapping).
 *
 * A `.dvc` file as `dvc add data` writes it (DVC `dvc/output.py` `Output.dumpd`):
 *   outs:
 *   - md5: <hash>.dir
 *     size: <bytes>
 *     nfiles: <count>
 *     hash: md5
 *     path: data
 */
import * as fs from "fs";
import * as path from "path";
import { codePointCompare, HashInfo, HashName, hashPath } from "./hash";
import { parseYaml, stringifyYaml, Value } from "./yaml";

export const LOCK_SCHEMA = "2.0";

/** One dep or out entry of dvc.lock. */
export interface LockEntry extends HashInfo {
  path: string;
  /** "md5" for DVC 3; absent in DVC 2 lock files (legacy md5-dos2unix) */
  hash?: "md5";
}

/** One stage's entry in dvc.lock. */
export interface LockStage {
  cmd: string | string[];
  deps?: LockEntry[];
  /** params values by file */
  params?: Record<string, Record<string, Value>>;
  outs?: LockEntry[];
}

/** A parsed dvc.lock: stage name → entry, in file order. */
export type Lock = Map<string, LockStage>;

/** The hash algorithm an entry was written with. */
export function entryHashName(e: LockEntry): HashName {
  return e.hash === "md5" ? "md5" : "md5-dos2unix";
}

function parseEntry(v: unknown, where: string): LockEntry {
  const e = v as Record<string, unknown>;
  if (!e || typeof e !== "object" || typeof e.path !== "string") throw new Error(`${where}: an entry without a 'path'`);
  const out: LockEntry = { path: e.path, md5: String(e.md5 ?? ""), size: Number(e.size ?? NaN) };
  if (e.hash === "md5") out.hash = "md5";
  if (typeof e.nfiles === "number") out.nfiles = e.nfiles;
  if (e.isexec === true) out.isexec = true;
  return out;
}

/** Parses dvc.lock text. */
export function parseLock(text: string, where = "dvc.lock"): Lock {
  const doc = parseYaml(text, where) as Record<string, unknown> | null;
  const lock: Lock = new Map();
  if (!doc) return lock;
  if (doc.schema !== LOCK_SCHEMA)
    throw new Error(
      `${where}: unsupported lock file schema '${String(doc.schema)}' (expected '${LOCK_SCHEMA}', DVC 2.x/3.x); delete it to rebuild`,
    );
  const stages = (doc.stages ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, s] of Object.entries(stages)) {
    const w = `${where}: stage '${name}'`;
    const st: LockStage = { cmd: s.cmd as string | string[] };
    if (Array.isArray(s.deps)) st.deps = s.deps.map((d) => parseEntry(d, w));
    if (s.params && typeof s.params === "object") st.params = s.params as LockStage["params"];
    if (Array.isArray(s.outs)) st.outs = s.outs.map((d) => parseEntry(d, w));
    lock.set(name, st);
  }
  return lock;
}

/** Reads `dvc.lock` under root; an empty lock when there is none. */
export function readLock(root: string, file = "dvc.lock"): Lock {
  const p = path.join(root, file);
  if (!fs.existsSync(p)) return new Map();
  return parseLock(fs.readFileSync(p, "utf8"), file);
}

/** One entry in DVC's key order: path, hash, md5, size, nfiles, isexec. */
export function entryToYaml(e: LockEntry): Record<string, unknown> {
  const o: Record<string, unknown> = { path: e.path };
  if (e.hash) o.hash = e.hash;
  o.md5 = e.md5;
  o.size = e.size;
  if (e.nfiles !== undefined) o.nfiles = e.nfiles;
  if (e.isexec) o.isexec = true;
  return o;
}

function stageToYaml(s: LockStage): Record<string, unknown> {
  const o: Record<string, unknown> = { cmd: s.cmd };
  if (s.deps?.length) o.deps = s.deps.map(entryToYaml);
  if (s.params && Object.keys(s.params).length) o.params = s.params;
  if (s.outs?.length) o.outs = s.outs.map(entryToYaml);
  return o;
}

/** dvc.lock text for a lock. */
export function stringifyLock(lock: Lock): string {
  const stages = new Map([...lock].map(([k, v]) => [k, stageToYaml(v)]));
  return stringifyYaml(
    new Map<string, unknown>([
      ["schema", LOCK_SCHEMA],
      ["stages", stages],
    ]),
  );
}

/** Writes a file atomically: a temp file beside it, then rename. */
export function writeAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** Writes `dvc.lock` under root atomically. */
export function writeLock(root: string, lock: Lock, file = "dvc.lock"): void {
  writeAtomic(path.join(root, file), stringifyLock(lock));
}

/** Python's `sorted` on strings (code point order) for sorting by path / key. */
export function pySort<T>(xs: T[], key: (x: T) => string): T[] {
  return [...xs].sort((a, b) => codePointCompare(key(a), key(b)));
}

/** Hashes a path into a lock entry (DVC 3 `hash: md5`); throws if the path is missing. */
export function hashEntry(root: string, wdir: string, p: string): LockEntry {
  const abs = path.resolve(root, wdir, p);
  const h = hashPath(abs);
  if (!h) throw new Error(`'${p}' does not exist`);
  return { path: p, hash: "md5", ...h };
}

// ---------------------------------------------------------------- .dvc files

/** A `.dvc` file's out. */
export type DvcFileOut = LockEntry;

/** Parses a `.dvc` file. */
export function readDvcFile(file: string): DvcFileOut[] {
  const doc = parseYaml(fs.readFileSync(file, "utf8"), file) as { outs?: unknown[] } | null;
  if (!doc || !Array.isArray(doc.outs)) throw new Error(`${file}: expected an 'outs:' list`);
  return doc.outs.map((o) => parseEntry(o, file));
}

/** `.dvc` file text in DVC 3's key order: md5, size, nfiles, isexec, hash, path. */
export function stringifyDvcFile(outs: DvcFileOut[]): string {
  return stringifyYaml({
    outs: outs.map((e) => {
      const o: Record<string, unknown> = { md5: e.md5, size: e.size };
      if (e.nfiles !== undefined) o.nfiles = e.nfiles;
      if (e.isexec) o.isexec = true;
      o.hash = "md5";
      o.path = e.path;
      return o;
    }),
  });
}

/**
 * Writes `<dataPath>.dvc` as `dvc add <dataPath>` would (without copying the data into a DVC cache),
 * and returns the out it recorded.
 */
export function writeDvcFile(dataPath: string): DvcFileOut {
  const h = hashPath(dataPath);
  if (!h) throw new Error(`cannot track '${dataPath}': it does not exist`);
  const out: DvcFileOut = { path: path.basename(dataPath), hash: "md5", ...h };
  writeAtomic(`${dataPath}.dvc`, stringifyDvcFile([out]));
  return out;
}
