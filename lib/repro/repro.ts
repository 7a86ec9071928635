/**
 * `repro`: run the stages of dvc.yaml whose inputs changed, as `dvc repro` does, and keep dvc.lock.
 *
 * Follows DVC 3 `dvc/repo/reproduce.py` and `dvc/stage/__init__.py`:
 * - a stage is changed when it is `always_changed`, has no dvc.lock entry, its cmd differs from the
 *   locked one, a dep's hash, the set of deps, a tracked param's value or an out's hash differs, or
 *   an out is missing (`Stage.changed` = changed_stage or changed_deps or changed_outs);
 * - stages run in dependency order; `--force` runs every stage of the plan; `repro <target>` plans
 *   the target and everything upstream of it;
 * - before a stage runs its non-persist outs are deleted (`Stage.remove_outs`); after it succeeds
 *   its deps, params and outs are recorded and dvc.lock is rewritten ("Updating lock file");
 * - a frozen stage never runs: its outs are only verified (`Verifying outputs in frozen stage`).
 *   Unlike DVC, naming a frozen stage as a target together with `--force` runs it anyway;
 * - data sources (`data.dvc`) upstream of a stage are verified and their `.dvc` file updated when
 *   the data changed (`Verifying data sources`);
 * - cached outputs (every out but `cache: false` ones) and data sources are saved in `.dvc/cache` as DVC
 *   saves them (./cache.ts), also for stages found up to date whose outputs the cache lacks, so that
 *   `dvc status` on the same repository reports nothing to do;
 * - directory hashes leave out what the repository's `.dvcignore` ignores (./ignore.ts), as DVC's do;
 * - a command runs with `sh -c` in the stage's folder and the caller's environment, as under DVC.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_PARAMS_FILE, loadStages, readDataFile, select, Stage } from "./dvcyaml";
import { buildGraph, isWithin, resolveTargets, upstreamOf } from "./graph";
import { HashInfo, hashPath } from "./hash";
import { inCache, saveToCache } from "./cache";
import { DvcIgnore } from "./ignore";
import {
  entryHashName,
  Lock,
  LockEntry,
  LockStage,
  pySort,
  readDvcFile,
  readLock,
  stringifyDvcFile,
  writeAtomic,
  writeLock,
} from "./lock";
import { Value, valueEqual } from "./yaml";

export interface ReproOptions {
  /** the repository root holding dvc.yaml (default: the current directory) */
  root?: string;
  /** stage names (or foreach/matrix group names); default: every stage */
  targets?: string[];
  /** run the planned stages even if nothing changed (frozen ones only when named as targets) */
  force?: boolean;
  /** print what would run and why; run nothing, write nothing */
  dry?: boolean;
  /** where messages go (default: console.log) */
  log?: (line: string) => void;
  /** the commands' stdout/stderr: inherited (streamed) by default */
  stdio?: "inherit" | "ignore";
}

export type StageStatus = "ran" | "would run" | "skipped" | "frozen" | "failed";

export interface StageReport {
  name: string;
  status: StageStatus;
  /** why it ran / would run ("params changed: train.lr", ...) */
  reasons: string[];
}

export interface ReproResult {
  /** 0 on success, else the failing command's exit code (1 for other errors) */
  exitCode: number;
  stages: StageReport[];
}

/** A hash cache for one run: paths are hashed once and forgotten when a stage rewrites them. */
class Hashes {
  private memo = new Map<string, HashInfo | undefined>();
  constructor(readonly ignore?: DvcIgnore) {}
  get(abs: string): HashInfo | undefined {
    if (!this.memo.has(abs)) this.memo.set(abs, hashPath(abs, "md5", this.ignore));
    return this.memo.get(abs);
  }
  forget(abs: string): void {
    for (const k of [...this.memo.keys()]) if (isWithin(k, abs) || isWithin(abs, k)) this.memo.delete(k);
  }
}

const sameHash = (a: LockEntry, b: HashInfo) => a.md5 === b.md5;

/** Current values of a stage's tracked params, grouped by file as dvc.lock stores them. */
export function paramValues(root: string, stage: Stage): Record<string, Record<string, Value>> {
  const out: Record<string, Record<string, Value>> = {};
  for (const spec of pySort(stage.params, (p) => p.file)) {
    const file = path.resolve(root, stage.wdir, spec.file);
    const data = readDataFile(file, `stage '${stage.name}': params file`);
    const keys = spec.keys.length ? spec.keys : Object.keys((data ?? {}) as object);
    const vals: Record<string, Value> = {};
    const missing: string[] = [];
    for (const k of pySort(keys, (k) => k)) {
      const v = select(data, k);
      if (v === undefined) missing.push(k);
      else vals[k] = v;
    }
    if (missing.length) {
      throw new Error(
        `stage '${stage.name}': parameters ${missing.map((m) => `'${m}'`).join(", ")} are missing from '${spec.file}'; add them or remove them from the stage's params`,
      );
    }
    out[spec.file] = vals;
  }
  // DVC puts the default params file first, then the others alphabetically.
  if (out[DEFAULT_PARAMS_FILE]) return { [DEFAULT_PARAMS_FILE]: out[DEFAULT_PARAMS_FILE], ...out };
  return out;
}

/** Why a stage must run, compared with its dvc.lock entry; empty when it is up to date. */
export function changeReasons(
  root: string,
  stage: Stage,
  locked: LockStage | undefined,
  hashes = new Hashes(DvcIgnore.load(root)),
): string[] {
  const reasons: string[] = [];
  if (stage.alwaysChanged) reasons.push("always_changed");
  if (!locked) return [...reasons, "not in dvc.lock"];
  if (!valueEqual(locked.cmd, stage.cmd)) reasons.push("cmd changed");
  const abs = (p: string) => path.resolve(root, stage.wdir, p);
  const cmp = (kind: "deps" | "outs", paths: string[], entries: LockEntry[] = []) => {
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const changed: string[] = [];
    const missing: string[] = [];
    for (const p of paths) {
      const e = byPath.get(p);
      const h =
        e && entryHashName(e) === "md5"
          ? hashes.get(abs(p))
          : hashPath(abs(p), e ? entryHashName(e) : "md5", hashes.ignore);
      if (!h) missing.push(p);
      else if (!e || !sameHash(e, h)) changed.push(p);
    }
    const removed = entries.map((e) => e.path).filter((p) => !paths.includes(p));
    if (missing.length) reasons.push(`${kind === "deps" ? "dep" : "out"} missing: ${missing.join(", ")}`);
    if (changed.length) reasons.push(`changed ${kind}: ${changed.join(", ")}`);
    if (removed.length) reasons.push(`${kind} removed from dvc.yaml: ${removed.join(", ")}`);
  };
  cmp("deps", stage.deps, locked.deps);
  const now = paramValues(root, stage);
  const was = locked.params ?? {};
  const changedParams: string[] = [];
  for (const file of new Set([...Object.keys(now), ...Object.keys(was)])) {
    const a = now[file] ?? {};
    const b = was[file] ?? {};
    const prefix = file === DEFAULT_PARAMS_FILE ? "" : `${file}:`;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      if (!valueEqual(a[k], b[k])) changedParams.push(prefix + k);
  }
  if (changedParams.length) reasons.push(`params changed: ${changedParams.join(", ")}`);
  cmp(
    "outs",
    stage.outs.map((o) => o.path),
    locked.outs,
  );
  return reasons;
}

/** Records a stage as dvc.lock stores it: cmd, deps, params, outs (hashed now). */
export function lockStage(root: string, stage: Stage, hashes = new Hashes(DvcIgnore.load(root))): LockStage {
  const entry = (p: string, kind: string): LockEntry => {
    const h = hashes.get(path.resolve(root, stage.wdir, p));
    if (!h) throw new Error(`stage '${stage.name}': ${kind} '${p}' does not exist`);
    return { path: p, hash: "md5", ...h };
  };
  const st: LockStage = { cmd: stage.cmd };
  if (stage.deps.length) st.deps = pySort(stage.deps, (p) => p).map((p) => entry(p, "dependency"));
  const params = paramValues(root, stage);
  if (Object.keys(params).length) st.params = params;
  if (stage.outs.length)
    st.outs = pySort(
      stage.outs.map((o) => o.path),
      (p) => p,
    ).map((p) => entry(p, "output"));
  return st;
}

/** `.dvc` files that track a dep path or one of its parents (`data.dvc` for `data/a.png`). */
export function dataSourcesFor(root: string, absDep: string): string[] {
  const found: string[] = [];
  for (let p = absDep; isWithin(p, root) && p !== root; p = path.dirname(p)) {
    if (fs.existsSync(`${p}.dvc`)) found.push(`${p}.dvc`);
  }
  return found;
}

/** Saves a stage's cached outputs into `.dvc/cache` where the cache lacks them; returns the objects written. */
export function cacheOutputs(root: string, stage: Stage, hashes: Hashes): number {
  let written = 0;
  for (const o of stage.outs) {
    if (!o.cache) continue;
    const abs = path.resolve(root, stage.wdir, o.path);
    const h = hashes.get(abs);
    if (h && !inCache(root, h)) written += saveToCache(root, abs, h, hashes.ignore);
  }
  return written;
}

/** Runs one command with `sh -c` in `cwd`, in the caller's environment (as DVC does); resolves to its exit code. */
export function runCommand(cmd: string, cwd: string, stdio: "inherit" | "ignore"): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { cwd, stdio: ["inherit", stdio, stdio] });
    child.on("error", () => resolve(127));
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}

/** Reproduces the pipeline under `opts.root`. Errors in dvc.yaml/params/lock throw; a failing command returns its exit code. */
export async function repro(opts: ReproOptions = {}): Promise<ReproResult> {
  const root = path.resolve(opts.root ?? ".");
  const log = opts.log ?? ((l: string) => console.log(l));
  const stdio = opts.stdio ?? "inherit";
  const stages = loadStages(root);
  const g = buildGraph(root, stages);
  const named = opts.targets?.length ? resolveTargets(g, opts.targets) : [];
  const plan = named.length ? upstreamOf(g, named) : g.order;
  const lock: Lock = readLock(root);
  const hashes = new Hashes(DvcIgnore.load(root));
  const reports: StageReport[] = [];
  const report = (name: string, status: StageStatus, reasons: string[] = []) => reports.push({ name, status, reasons });

  // Data sources upstream of the plan: verify them, and update their .dvc file when the data changed.
  const dvcFiles = new Set<string>();
  for (const n of plan)
    for (const d of g.stages.get(n)!.deps)
      dataSourcesFor(root, path.resolve(root, g.stages.get(n)!.wdir, d)).forEach((f) => dvcFiles.add(f));
  for (const f of [...dvcFiles].sort()) {
    const rel = path.relative(root, f);
    const outs = readDvcFile(f);
    let changed = false;
    const now = outs.map((o) => {
      const abs = path.resolve(path.dirname(f), o.path);
      const h = hashes.get(abs);
      if (!h)
        throw new Error(
          `data source '${o.path}' of '${rel}' is missing; restore it (\`dvc pull\` or \`dvc checkout\`) before reproducing`,
        );
      if (entryHashName(o) !== "md5" || !sameHash(o, h)) changed = true;
      if (!opts.dry && !inCache(root, h)) saveToCache(root, abs, h, hashes.ignore);
      return { ...o, hash: "md5" as const, ...h };
    });
    if (!changed) continue;
    if (opts.dry) log(`Data source '${rel}' changed; would update it`);
    else {
      log(`Verifying data sources in stage: '${rel}' (changed; updating it)`);
      writeAtomic(f, stringifyDvcFile(now));
    }
  }

  for (const name of plan) {
    const stage = g.stages.get(name)!;
    const forcedFrozen = stage.frozen && opts.force && named.includes(name);
    if (stage.frozen && !forcedFrozen) {
      const missing = stage.outs.filter((o) => !hashes.get(path.resolve(root, stage.wdir, o.path))).map((o) => o.path);
      if (missing.length) {
        throw new Error(
          `stage '${name}' is frozen and its outputs are missing: ${missing.join(", ")}; unfreeze it (remove 'frozen: true' from dvc.yaml) or run \`repro ${name} --force\``,
        );
      }
      const locked = lock.get(name);
      // Its deps are not checked (DVC: a frozen stage's deps are not reproduced); a missing or stale
      // lock entry is rewritten from the outputs as they are.
      const stale =
        !locked || changeReasons(root, stage, locked, hashes).some((r) => r === "cmd changed" || r.includes("outs"));
      if (stale) {
        if (!opts.dry) {
          log(`Verifying outputs in frozen stage: '${name}'`);
          lock.set(name, lockStage(root, stage, hashes));
          log("Updating lock file 'dvc.lock'");
          writeLock(root, lock);
        }
      } else log(`Stage '${name}' is frozen, skipping`);
      report(name, "frozen");
      continue;
    }
    const reasons = opts.force ? ["forced"] : changeReasons(root, stage, lock.get(name), hashes);
    if (!reasons.length) {
      log(`Stage '${name}' didn't change, skipping`);
      if (!opts.dry && cacheOutputs(root, stage, hashes)) log(`Saved the outputs of stage '${name}' to the cache`);
      report(name, "skipped");
      continue;
    }
    const cmds = Array.isArray(stage.cmd) ? stage.cmd : [stage.cmd];
    if (opts.dry) {
      log(`Would run stage '${name}' (${reasons.join("; ")}):`);
      for (const c of cmds) log(`> ${c}`);
      report(name, "would run", reasons);
      continue;
    }
    const missingDeps = stage.deps.filter((d) => !hashes.get(path.resolve(root, stage.wdir, d)));
    if (missingDeps.length) {
      throw new Error(
        `stage '${name}': missing dependencies: ${missingDeps.join(", ")}; create them or the stage that outputs them`,
      );
    }
    log(`Running stage '${name}' (${reasons.join("; ")}):`);
    for (const o of stage.outs) {
      const abs = path.resolve(root, stage.wdir, o.path);
      if (!o.persist) fs.rmSync(abs, { recursive: true, force: true });
      hashes.forget(abs);
    }
    const cwd = path.resolve(root, stage.wdir);
    for (const c of cmds) {
      log(`> ${c}`);
      const code = await runCommand(c, cwd, stdio);
      if (code !== 0) {
        log(`ERROR: failed to reproduce '${name}': failed to run: ${c}, exited with ${code}`);
        report(name, "failed", reasons);
        return { exitCode: code, stages: reports };
      }
    }
    for (const o of stage.outs) hashes.forget(path.resolve(root, stage.wdir, o.path));
    const missingOuts = stage.outs
      .filter((o) => !hashes.get(path.resolve(root, stage.wdir, o.path)))
      .map((o) => o.path);
    if (missingOuts.length) {
      log(
        `ERROR: failed to reproduce '${name}': outputs ${missingOuts.map((p) => `'${p}'`).join(", ")} do not exist after running it`,
      );
      report(name, "failed", reasons);
      return { exitCode: 1, stages: reports };
    }
    lock.set(name, lockStage(root, stage, hashes));
    cacheOutputs(root, stage, hashes);
    log("Updating lock file 'dvc.lock'");
    writeLock(root, lock);
    report(name, "ran", reasons);
  }
  return { exitCode: 0, stages: reports };
}

/**
 * `dvc commit <stages>`: record the stages' current deps, params and outs in dvc.lock without running
 * them (after an output was finished by hand, or to accept a change). Returns the stages recorded.
 */
export function commitStages(root: string, targets: string[], log: (line: string) => void = console.log): string[] {
  if (!targets.length) throw new Error("commit needs the stages to record, e.g. `repro --commit pretrain`");
  const g = buildGraph(root, loadStages(root));
  const names = resolveTargets(g, targets);
  const lock: Lock = readLock(root);
  const hashes = new Hashes(DvcIgnore.load(root));
  for (const name of names) {
    lock.set(name, lockStage(root, g.stages.get(name)!, hashes));
    cacheOutputs(root, g.stages.get(name)!, hashes);
    log(`Updating lock file 'dvc.lock' for stage '${name}'`);
  }
  writeLock(root, lock);
  return names;
}
