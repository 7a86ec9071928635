/**
 * The CLI's shape: each subcommand is one module under cli/commands/ exporting `command`,
 * registered in cli/main.ts. Arguments are parsed by `parseArgs` below.
 */

export interface Command {
  /** the subcommand, e.g. "schedule" */
  name: string;
  /** one line for `dreambooth --help` */
  summary: string;
  /** full usage text for `dreambooth <name> --help` */
  usage: string;
  /** runs the command; returns the process exit code */
  run(argv: string[]): Promise<number>;
}

/** The base model the commands use unless --model says otherwise: the embedded tiny Stable Diffusion. */
export const DEFAULT_MODEL = "models/tiny-sd";

/** A user error: printed as one line (no stack trace), exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface ParsedArgs {
  /** positional arguments in order */
  positional: string[];
  /** --name value, --name=value; a bare --flag is `true` */
  flags: Map<string, string | true>;
}

/**
 * Parses `--name value`, `--name=value` and bare boolean flags. `booleans` lists the flags that
 * never take a value; any flag not in `known` is an error that lists the known ones.
 */
export function parseArgs(argv: string[], known: string[], booleans: string[] = []): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    if (!known.includes(name) && !booleans.includes(name)) {
      throw new UsageError(`unknown option --${name}; known: ${[...known, ...booleans].map((k) => "--" + k).join(", ")}`);
    }
    if (booleans.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (eq >= 0) {
      flags.set(name, a.slice(eq + 1));
    } else {
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith("--") && v.length > 2)) throw new UsageError(`--${name} needs a value`);
      flags.set(name, v);
      i++;
    }
  }
  return { positional, flags };
}

/** A string flag, or the default. */
export function str(args: ParsedArgs, name: string, def?: string): string | undefined {
  const v = args.flags.get(name);
  return v === undefined ? def : v === true ? def : v;
}

/** A numeric flag: an error names the flag and the bad value. */
export function num(args: ParsedArgs, name: string, def?: number): number | undefined {
  const v = args.flags.get(name);
  if (v === undefined || v === true) return def;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${v}")`);
  return n;
}

/** An integer flag. */
export function int(args: ParsedArgs, name: string, def?: number): number | undefined {
  const n = num(args, name, def);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer (got ${n})`);
  return n;
}

/** A flag that takes one of a fixed set of values: an error names the flag, the values and what was given. */
export function oneOf<T extends string>(args: ParsedArgs, name: string, values: readonly T[], def: T): T {
  const v = str(args, name, def)!;
  if (!(values as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of: ${values.join(", ")} (got "${v}")`);
  return v as T;
}

export function bool(args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) === true;
}
