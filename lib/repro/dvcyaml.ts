/**
 * dvc.yaml: read it, expand `foreach`/`matrix` stages and `${...}` interpolation, and normalise
 * every stage to one shape.
 *
 * Follows DVC's `dvc/parsing/__init__.py` (DataResolver, ForeachDefinition, MatrixDefinition) and
 * `dvc/parsing/interpolate.py`:
 * - the global context is params.yaml (beside dvc.yaml, if present) merged with top-level `vars`
 *   (file names, `file.yaml:key1,key2`, or inline dictionaries); a stage may add its own `vars`;
 * - `foreach` over a list of scalars names stages `name@<value>`, over a list with lists or
 *   dictionaries `name@<index>`, over a dictionary `name@<key>` (and sets `${key}`); `${item}` is
 *   the element;
 * - `matrix: {a: [..], b: [..]}` names stages `name@<a>-<b>` (a list or dictionary value stands as
 *   `<key><index>`), `${item.a}` is that combination's value and `${key}` the joined name;
 * - a string that is exactly one `${expr}` becomes the value itself (a number stays a number);
 *   inside a longer string the value is written as Python's `str` would (`true`, `1e-05`); a list or
 *   dictionary cannot be interpolated into a string, except a dictionary in `cmd`, which becomes
 *   `--key value` flags (`dvc/parsing/interpolate.py` `to_str`: nested keys joined with ".", `--key`
 *   alone for true, nothing for false, a list as `--key a b`); `\${` is a literal `${`.
 */
import * as fs from "fs";
import * as path from "path";
import { parseYaml, pyStr, PyFloat, Value } from "./yaml";

export const DEFAULT_PARAMS_FILE = "params.yaml";

/** An output (outs, metrics or plots) of a stage, with its flags. */
export interface OutSpec {
  /** as written in dvc.yaml, relative to the stage's wdir */
  path: string;
  cache: boolean;
  persist: boolean;
  kind: "outs" | "metrics" | "plots";
}

/** One params file's tracked keys; `keys` empty means the whole file (`{file.yaml: }`). */
export interface ParamsSpec {
  file: string;
  keys: string[];
}

/** A stage, after templating, in one normalised shape. */
export interface Stage {
  name: string;
  /** the command as written: a string, or a list run one after another */
  cmd: string | string[];
  /** relative to the repo root ("." for the root) */
  wdir: string;
  deps: string[];
  params: ParamsSpec[];
  outs: OutSpec[];
  frozen: boolean;
  alwaysChanged: boolean;
}

type Dict = { [k: string]: Value };
const isDict = (v: unknown): v is Dict => !!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyFloat);
const isMapOrSeq = (v: unknown) => Array.isArray(v) || isDict(v);

/** Reads a YAML or JSON file as a value; `what` says what it is for in errors. */
export function readDataFile(file: string, what: string): Value {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new Error(`${what} '${file}' does not exist`);
  }
  if (/\.json$/i.test(file)) return JSON.parse(text) as Value;
  if (!/\.ya?ml$/i.test(file))
    throw new Error(`${what} '${file}': only YAML and JSON files are supported here (use dvc for .toml/.py)`);
  return parseYaml(text, file);
}

/** Looks up `a.b[0].c` in a context; `undefined` when absent. */
export function select(ctx: Value, expr: string): Value | undefined {
  const parts = expr.trim().match(/[^.[\]]+|\[\d+\]/g);
  if (!parts) return undefined;
  let cur: Value | undefined = ctx;
  for (const p of parts) {
    if (cur === undefined || cur === null) return undefined;
    if (p.startsWith("[")) cur = Array.isArray(cur) ? cur[Number(p.slice(1, -1))] : undefined;
    else if (Array.isArray(cur) && /^\d+$/.test(p)) cur = cur[Number(p)];
    else cur = isDict(cur) ? cur[p] : undefined;
  }
  return cur;
}

const INTERP = /(\\*)\$\{\s*([^}]*?)\s*\}/g;

/** DVC's `to_str` of a dictionary in a `cmd`: `--a.b value`, `--flag` for true, `--list x y`; strings shell-quoted as needed. */
function dictToFlags(d: Dict, where: string): string {
  const out: string[] = [];
  const flat = (o: Dict, prefix: string): [string, Value][] =>
    Object.entries(o).flatMap(([k, v]) =>
      isDict(v) ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, Value]],
    );
  for (const [k, v] of flat(d, "")) {
    if (typeof v === "boolean") {
      if (v) out.push(`--${k}`);
    } else if (typeof v === "string") out.push(`--${k} ${shellQuote(v)}`);
    else if (Array.isArray(v)) {
      if (v.some(isMapOrSeq)) throw new Error(`${where}: cannot interpolate a nested list or dictionary in '${k}'`);
      v.forEach((x, i) =>
        out.push(
          i === 0
            ? `--${k} ${typeof x === "string" ? shellQuote(x) : pyStr(x)}`
            : typeof x === "string"
              ? shellQuote(x)
              : pyStr(x),
        ),
      );
    } else out.push(`--${k} ${pyStr(v)}`);
  }
  return out.join(" ");
}

/** Python's `shlex.quote` (DVC's `escape_str`): unchanged when made of safe characters, else single-quoted. */
function shellQuote(s: string): string {
  if (s === "") return "''";
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, "'\"'\"'")}'`;
}

/** Interpolates `${...}` in one string. */
export function interpolateString(s: string, ctx: Value, where: string, inCmd = false): Value {
  const lookup = (expr: string): Value => {
    const v = select(ctx, expr);
    if (v === undefined) throw new Error(`${where}: could not find '${expr}' (not in params.yaml, vars, item or key)`);
    return v;
  };
  const whole = /^\$\{\s*([^}]*?)\s*\}$/.exec(s);
  if (whole) return lookup(whole[1]);
  return s.replace(INTERP, (m, slashes: string, expr: string) => {
    if (slashes.length % 2 === 1) return slashes.slice(1) + m.slice(slashes.length); // \${ stays literal
    const v = lookup(expr);
    if (isDict(v) && inCmd) return slashes + dictToFlags(v, where);
    if (isMapOrSeq(v))
      throw new Error(
        `${where}: cannot interpolate a ${Array.isArray(v) ? "list" : "dictionary"} '${expr}' into a string (DVC: "Cannot interpolate data of type '${Array.isArray(v) ? "list" : "dict"}'")`,
      );
    return slashes + pyStr(v);
  });
}

/** Interpolates every string inside a value. */
export function interpolate(v: Value, ctx: Value, where: string, inCmd = false): Value {
  if (typeof v === "string") return interpolateString(v, ctx, where, inCmd);
  if (Array.isArray(v)) return v.map((x) => interpolate(x, ctx, where, inCmd));
  if (isDict(v)) {
    const out: Dict = {};
    for (const [k, x] of Object.entries(v))
      out[interpolateString(k, ctx, where) as string] = interpolate(x, ctx, where, inCmd || k === "cmd");
    return out;
  }
  return v;
}

function mergeVars(ctx: Dict, vars: Value | undefined, dir: string, where: string): Dict {
  if (vars === undefined || vars === null) return ctx;
  if (!Array.isArray(vars)) throw new Error(`${where}: 'vars' must be a list of file names or dictionaries`);
  let out = { ...ctx };
  for (const item of vars) {
    if (typeof item === "string") {
      const [file, keysStr = ""] = item.split(":");
      const data = readDataFile(path.join(dir, file), `${where}: vars file`);
      if (!isDict(data)) throw new Error(`${where}: vars file '${file}' must hold a dictionary`);
      const keys = keysStr.split(",").filter(Boolean);
      out = { ...out, ...(keys.length ? Object.fromEntries(keys.map((k) => [k, data[k]])) : data) };
    } else if (isDict(item)) out = { ...out, ...item };
    else throw new Error(`${where}: a 'vars' entry must be a file name or a dictionary`);
  }
  return out;
}

function toStr(v: Value): string {
  return pyStr(v as Value);
}

/** Expands one `stages:` entry into its generated (name, definition, context) triples. */
export function expandEntry(
  name: string,
  def: Dict,
  ctx: Dict,
  where: string,
): { name: string; def: Dict; ctx: Dict }[] {
  if ("foreach" in def) {
    if (!("do" in def)) throw new Error(`${where}: stage '${name}' has 'foreach' but no 'do'`);
    const data = interpolate(def.foreach as Value, ctx, `${where}: stages.${name}.foreach`);
    if (!isMapOrSeq(data)) throw new Error(`${where}: stages.${name}.foreach must be a list or a dictionary`);
    const body = def.do as Dict;
    if (Array.isArray(data)) {
      const composite = data.some(isMapOrSeq);
      return data.map((item, i) => ({
        name: `${name}@${composite ? i : toStr(item)}`,
        def: body,
        ctx: { ...ctx, item },
      }));
    }
    return Object.entries(data as Dict).map(([key, item]) => ({
      name: `${name}@${key}`,
      def: body,
      ctx: { ...ctx, item, key },
    }));
  }
  if ("matrix" in def) {
    const matrix = interpolate(def.matrix as Value, ctx, `${where}: stages.${name}.matrix`);
    if (!isDict(matrix)) throw new Error(`${where}: stages.${name}.matrix must be a dictionary of lists`);
    const body: Dict = { ...def };
    delete body.matrix;
    let combos: { frags: string[]; item: Dict }[] = [{ frags: [], item: {} }];
    for (const [k, vals] of Object.entries(matrix)) {
      if (!Array.isArray(vals)) throw new Error(`${where}: stages.${name}.matrix.${k} must be a list`);
      combos = combos.flatMap((c) =>
        vals.map((v, i) => ({
          frags: [...c.frags, isMapOrSeq(v) ? `${k}${i}` : toStr(v)],
          item: { ...c.item, [k]: v },
        })),
      );
    }
    return combos.map((c) => {
      const key = c.frags.join("-");
      return { name: `${name}@${key}`, def: body, ctx: { ...ctx, item: c.item, key } };
    });
  }
  return [{ name, def, ctx }];
}

function asStringList(v: Value | undefined, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} must be a list`);
  return v.map((x) => {
    if (typeof x !== "string") throw new Error(`${what}: expected a path, got ${JSON.stringify(x)}`);
    return x;
  });
}

function parseOuts(v: Value | undefined, kind: OutSpec["kind"], what: string): OutSpec[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} must be a list`);
  return v.map((x) => {
    if (typeof x === "string") return { path: x, cache: true, persist: false, kind };
    if (isDict(x) && Object.keys(x).length === 1) {
      const [p, flags] = Object.entries(x)[0];
      const f = isDict(flags) ? flags : {};
      return { path: p, cache: f.cache !== false, persist: f.persist === true, kind };
    }
    throw new Error(`${what}: expected a path or {path: {cache: .., persist: ..}}, got ${JSON.stringify(x)}`);
  });
}

function parseParams(v: Value | undefined, what: string): ParamsSpec[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} must be a list`);
  const byFile = new Map<string, string[]>();
  const add = (file: string, keys: string[]) => byFile.set(file, [...(byFile.get(file) ?? []), ...keys]);
  for (const x of v) {
    if (typeof x === "string") add(DEFAULT_PARAMS_FILE, [x]);
    else if (isDict(x)) {
      for (const [file, keys] of Object.entries(x)) {
        if (keys === null || keys === undefined) add(file, []);
        else add(file, asStringList(keys, `${what}.${file}`));
      }
    } else throw new Error(`${what}: expected a key or {file.yaml: [keys]}, got ${JSON.stringify(x)}`);
  }
  return [...byFile].map(([file, keys]) => ({ file, keys: [...new Set(keys)] }));
}

const STAGE_KEYS = new Set([
  "cmd",
  "wdir",
  "deps",
  "params",
  "outs",
  "metrics",
  "plots",
  "frozen",
  "always_changed",
  "desc",
  "meta",
  "vars",
]);

/** Turns one resolved stage definition into a {@link Stage}. */
export function normaliseStage(name: string, def: Dict, where: string): Stage {
  const w = `${where}: stage '${name}'`;
  for (const k of Object.keys(def))
    if (!STAGE_KEYS.has(k)) throw new Error(`${w}: unknown key '${k}'; known: ${[...STAGE_KEYS].join(", ")}`);
  const cmd = def.cmd;
  if (typeof cmd !== "string" && !(Array.isArray(cmd) && cmd.length && cmd.every((c) => typeof c === "string"))) {
    throw new Error(`${w}: 'cmd' must be a string or a list of strings`);
  }
  const wdir = typeof def.wdir === "string" ? path.posix.normalize(def.wdir) : ".";
  return {
    name,
    cmd: cmd as string | string[],
    wdir,
    deps: asStringList(def.deps, `${w}.deps`),
    params: parseParams(def.params, `${w}.params`),
    outs: [
      ...parseOuts(def.outs, "outs", `${w}.outs`),
      ...parseOuts(def.metrics, "metrics", `${w}.metrics`),
      ...parseOuts(def.plots, "plots", `${w}.plots`),
    ],
    frozen: def.frozen === true,
    alwaysChanged: def.always_changed === true,
  };
}

/** Reads `dvc.yaml` under `root` and returns its stages, templated and expanded, in file order. */
export function loadStages(root: string, file = "dvc.yaml"): Stage[] {
  const where = file;
  const doc = readDataFile(path.join(root, file), "pipeline file");
  if (!isDict(doc) || !isDict(doc.stages)) throw new Error(`${where}: expected a 'stages:' dictionary`);
  let ctx: Dict = {};
  const paramsPath = path.join(root, DEFAULT_PARAMS_FILE);
  if (fs.existsSync(paramsPath)) {
    const p = readDataFile(paramsPath, "params file");
    if (isDict(p)) ctx = p;
  }
  ctx = mergeVars(ctx, doc.vars, root, where);
  const stages: Stage[] = [];
  const seen = new Set<string>();
  for (const [name, raw] of Object.entries(doc.stages)) {
    if (!isDict(raw)) throw new Error(`${where}: stage '${name}' must be a dictionary`);
    for (const g of expandEntry(name, raw, ctx, where)) {
      const stageCtx = mergeVars(g.ctx, g.def.vars, root, `${where}: stage '${g.name}'`);
      const body: Dict = { ...g.def };
      delete body.vars;
      const resolved = interpolate(body, stageCtx, `${where}: stage '${g.name}'`) as Dict;
      if (seen.has(g.name)) throw new Error(`${where}: stage '${g.name}' is defined twice`);
      seen.add(g.name);
      stages.push(normaliseStage(g.name, resolved, where));
    }
  }
  return stages;
}
