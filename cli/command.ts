/**
 * The CLI's shape: each subcommand is one module under cli/commands/ exporting `command`, made by
 * `defineCommand` from one declarative table of its options (type, default, help), registered in
 * cli/main.ts. The table gives the parser (Node's `util.parseArgs`), the checks and the usage text, so
 * the three cannot disagree. A default that is the pipeline's names its params.yaml key (`param`) and
 * is read from params.yaml, the one place the pipeline's numbers live.
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs as nodeParseArgs } from "util";
import { parseYaml, PyFloat, Value } from "../lib/repro/yaml";

export interface Command {
  /** the subcommand, e.g. "schedule" */
  name: string;
  /** one line for `dreambooth --help` */
  summary: string;
  /** full usage text for `dreambooth <name> --help` */
  usage: string;
  /** the options table the command parses (empty for commands that take none) */
  options: Options;
  /** runs the command; returns the process exit code */
  run(argv: string[]): Promise<number>;
}

/** A user error: printed as one line (no stack trace), exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type OptionType = "string" | "number" | "integer" | "boolean";

/** One option: `--name <value>` (or a bare `--name` for booleans). */
export interface Option {
  type: OptionType;
  /** what the value does, one short line */
  help: string;
  default?: string | number | boolean;
  /** the params.yaml key this default comes from (`dreambooth.lr`); `default` is then read from there */
  param?: string;
  /** the values a string option takes */
  choices?: readonly string[];
  required?: boolean;
  /** bounds of a number */
  min?: number;
  max?: number;
  /** the value's placeholder in the usage ("<folder>"); default from the type */
  value?: string;
  /** a one-letter alias (`-f`) */
  short?: string;
}

export type Options = Record<string, Option>;

/** Positional arguments: their name in the usage, what they are, and how many. */
export interface Positionals {
  name: string;
  help: string;
  /** how many: exactly one, any number (≥ `min`), or none or one */
  count: "one" | "many" | "optional";
  min?: number;
}

type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type ValueOf<O extends Option> = O["type"] extends "boolean"
  ? boolean
  : O["type"] extends "string"
    ? O extends { choices: readonly (infer C)[] }
      ? C
      : string
    : number;
type Always<O extends Option> = O extends
  { default: unknown } | { param: string } | { required: true } | { type: "boolean" }
  ? true
  : false;
/** The parsed options, by camelCase name: `--class-dir` is `classDir`. */
export type Values<T extends Options> = {
  [K in keyof T & string as Camel<K>]: Always<T[K]> extends true ? ValueOf<T[K]> : ValueOf<T[K]> | undefined;
};

export interface CommandSpec<T extends Options> {
  name: string;
  summary: string;
  /** paragraphs printed after the usage line */
  description?: string;
  positionals?: Positionals;
  options: T;
  /** runs with the parsed options; `argv` is the command line as given (for records of what ran) */
  run(values: Values<T>, positionals: string[], argv: string[]): Promise<number>;
}

const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

// ------------------------------------------------------------------ params.yaml defaults

let paramsCache: Record<string, Value> | undefined;

/** params.yaml, parsed once: the working directory's (as DVC reads it for a stage), else the project's. */
export function pipelineParams(): Record<string, Value> {
  if (paramsCache) return paramsCache;
  // a stage runs in its repository's root, where DVC reads params.yaml; elsewhere, the project's own
  let file = path.resolve("params.yaml");
  if (!fs.existsSync(file)) {
    let dir = __dirname;
    while (!fs.existsSync(path.join(dir, "package.json"))) {
      const up = path.dirname(dir);
      if (up === dir) throw new Error(`cannot find the repository (package.json) above ${__dirname}`);
      dir = up;
    }
    file = path.join(dir, "params.yaml");
  }
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new Error(
      `${file} is missing: the CLI reads the pipeline's defaults from it; restore it (git checkout params.yaml)`,
    );
  }
  paramsCache = (parseYaml(text, file) ?? {}) as Record<string, Value>;
  return paramsCache;
}

/** A params.yaml value by dotted key (`dreambooth.lr`), as a plain number, string or boolean; a list of scalars as them joined by spaces. */
export function param(key: string): string | number | boolean {
  let v: Value | undefined = pipelineParams();
  for (const k of key.split("."))
    v = v && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyFloat) ? v[k] : undefined;
  if (v instanceof PyFloat) return v.value;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "number" || typeof x === "string")) return v.join(" ");
  throw new Error(`params.yaml has no value '${key}' (the CLI's default for it); add it back`);
}

/** The default an option has: its `param`'s value, or its `default`. */
export function optionDefault(o: Option): string | number | boolean | undefined {
  return o.param ? param(o.param) : o.default;
}

// ------------------------------------------------------------------ usage

function placeholder(o: Option): string {
  if (o.type === "boolean") return "";
  if (o.value) return o.value;
  if (o.choices) return `<${o.choices.join("|")}>`;
  return o.type === "string" ? "<text>" : o.type === "integer" ? "<n>" : "<x>";
}

const USAGE_WIDTH = 110;

/** Words of `text` in lines of at most `width` characters (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...out, line];
}

/** The usage text: the usage line, the description, and one line per option (help wrapped at 110 columns). */
export function usageText(
  spec: Pick<CommandSpec<Options>, "name" | "description" | "positionals" | "options">,
): string {
  const pos = spec.positionals;
  const posText = !pos
    ? ""
    : pos.count === "one"
      ? ` ${pos.name}`
      : pos.count === "optional"
        ? ` [${pos.name}]`
        : ` ${pos.name}...`;
  const hasOptions = Object.keys(spec.options).length > 0;
  const required = Object.entries(spec.options)
    .filter(([, o]) => o.required)
    .map(([name, o]) => ` --${name} ${placeholder(o)}`)
    .join("");
  const lines = [`usage: dreambooth ${spec.name}${posText}${required}${hasOptions ? " [options]" : ""}`];
  if (spec.description) lines.push("", spec.description.trim());
  const rows: [string, string][] = [];
  if (pos) rows.push([pos.name, pos.help]);
  for (const [name, o] of Object.entries(spec.options)) {
    const flag = `${o.short ? `-${o.short}, ` : ""}--${name}${o.type === "boolean" ? "" : ` ${placeholder(o)}`}`;
    const d = optionDefault(o);
    const shown = d === "" ? '""' : String(d);
    const note = o.required
      ? " (required)"
      : d === undefined || o.type === "boolean"
        ? ""
        : ` [default ${shown}${o.param ? `, params.yaml ${o.param}` : ""}]`;
    rows.push([flag, o.help + note]);
  }
  if (rows.length) {
    const w = Math.min(30, Math.max(...rows.map(([f]) => f.length)));
    lines.push("", hasOptions ? "options:" : "arguments:");
    const indent = " ".repeat(w + 4);
    for (const [f, h] of rows) {
      const head = f.length > w ? `  ${f}\n${indent}` : `  ${f.padEnd(w)}  `;
      lines.push(head + wrap(h, USAGE_WIDTH - indent.length).join(`\n${indent}`));
    }
  }
  return lines.join("\n");
}

// ------------------------------------------------------------------ parsing

/** Parses and checks argv against the table: one-line UsageErrors name the option and the fix. */
export function parseOptions<T extends Options>(
  spec: Pick<CommandSpec<T>, "name" | "options" | "positionals">,
  argv: string[],
): { values: Values<T>; positionals: string[] } {
  const known = Object.keys(spec.options);
  const config = Object.fromEntries(
    Object.entries(spec.options).map(([k, o]) => [
      k,
      {
        type: o.type === "boolean" ? ("boolean" as const) : ("string" as const),
        ...(o.short ? { short: o.short } : {}),
      },
    ]),
  );
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = nodeParseArgs({ args: argv, options: config, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { code?: string };
    const m = /'(-{1,2}[^' ]+)/.exec(err.message);
    const flag = m?.[1] ?? "";
    if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      throw new UsageError(`unknown option ${flag}; known: ${known.map((k) => `--${k}`).join(", ")}`);
    }
    if (err.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const name = flag.replace(/^-+/, "");
      const o = spec.options[name] ?? Object.values(spec.options).find((x) => x.short === name);
      if (o?.type === "boolean") throw new UsageError(`${flag} takes no value`);
      const dash = /ambiguous/.test(err.message) ? ` (for a value that starts with "-", write ${flag}=-…)` : "";
      throw new UsageError(`${flag} needs a value${dash}`);
    }
    throw new UsageError(err.message.split("\n")[0]);
  }
  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const raw = parsed.values[name];
    const flag = `--${name}`;
    if (o.type === "boolean") {
      values[camel(name)] = raw === true;
      continue;
    }
    if (raw === undefined) {
      if (o.required)
        throw new UsageError(`${flag} is required: ${o.help}${o.choices ? ` (one of: ${o.choices.join(", ")})` : ""}`);
      values[camel(name)] = optionDefault(o);
      continue;
    }
    const text = String(raw);
    if (o.type === "string") {
      if (o.choices && !o.choices.includes(text))
        throw new UsageError(`${flag} must be one of: ${o.choices.join(", ")} (got "${text}")`);
      values[camel(name)] = text;
      continue;
    }
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number (got "${text}")`);
    if (o.type === "integer" && !Number.isInteger(n)) throw new UsageError(`${flag} must be an integer (got ${text})`);
    if (o.min !== undefined && n < o.min) throw new UsageError(`${flag} must be at least ${o.min} (got ${text})`);
    if (o.max !== undefined && n > o.max) throw new UsageError(`${flag} must be at most ${o.max} (got ${text})`);
    values[camel(name)] = n;
  }
  const pos = parsed.positionals;
  const p = spec.positionals;
  if (!p && pos.length)
    throw new UsageError(`unexpected argument "${pos[0]}" (dreambooth ${spec.name} takes options only)`);
  if (p?.count === "one" && pos.length !== 1)
    throw new UsageError(`expected one ${p.name}, got ${pos.length} arguments`);
  if (p?.count === "optional" && pos.length > 1)
    throw new UsageError(`expected at most one ${p.name}, got ${pos.length} arguments`);
  if (p?.count === "many" && pos.length < (p.min ?? 0))
    throw new UsageError(`expected at least ${p.min} ${p.name}, got ${pos.length}`);
  return { values: values as Values<T>, positionals: pos };
}

/** A command from its options table: parsing, checks and usage all come from the table. */
export function defineCommand<const T extends Options>(spec: CommandSpec<T>): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    options: spec.options,
    get usage() {
      return usageText(spec as unknown as CommandSpec<Options>);
    },
    async run(argv: string[]) {
      const { values, positionals } = parseOptions(spec, argv);
      return spec.run(values, positionals, argv);
    },
  };
}

/** The --backend option every computing command takes. */
export const BACKEND_OPTION = {
  backend: {
    type: "string",
    value: "<name>",
    help: "tfjs backend: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu or auto (default: the fastest installed)",
  },
} as const satisfies Options;

/** The --workers option of the commands that sample or train on worker threads. */
export const WORKERS_OPTION = {
  workers: {
    type: "integer",
    min: 0,
    help: "worker threads (default: every core on wasm and cpu, 0 = this process on a GPU backend); any number gives the same bytes",
  },
} as const satisfies Options;
