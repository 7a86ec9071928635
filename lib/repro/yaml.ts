/**
 * YAML in and out the way DVC reads and writes it.
 *
 * DVC parses YAML 1.2 with ruamel.yaml and writes dvc.lock / .dvc files with ruamel's round-trip
 * dumper (`dvc/utils/serialize/_yaml.py`: `YAML()`, `default_flow_style = False`). That style is:
 * block collections, sequences not indented under their key (`deps:\n- path: x`), strings quoted
 * with single quotes only when needed (`schema: '2.0'`), and floats as Python's repr (`5e-06`).
 *
 * Python keeps int and float apart (`1` vs `1.0`); JavaScript does not. So that a float like `1.0`
 * read from params.yaml is written back as `1.0` (and interpolated as "1.0", Python's `str`), parsing
 * wraps integral floats in {@link PyFloat}. Non-integral numbers are floats in both languages.
 */
import * as YAML from "yaml";

/** A float whose value is an integer (`1.0`, `1e3` in YAML): Python prints it with a ".0". */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
}

/** A YAML value as DVC sees it. */
export type Value = null | boolean | number | string | PyFloat | Value[] | { [k: string]: Value };

const FLOAT_SOURCE = /^[-+]?(\d[\d_]*\.[\d_]*|\.\d[\d_]*|\d[\d_]*)([eE][-+]?\d+)?$/;

/** Parses YAML text (YAML 1.2 core schema), keeping integral floats as {@link PyFloat}. `where` names the file in errors. */
export function parseYaml(text: string, where: string): Value {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) throw new Error(`${where}: invalid YAML: ${doc.errors[0].message}`);
  YAML.visit(doc, {
    Scalar(_key, node) {
      const src = (node as YAML.Scalar & { source?: string }).source;
      if (typeof node.value === "number" && Number.isInteger(node.value) && typeof src === "string") {
        if (FLOAT_SOURCE.test(src) && /[.eE]/.test(src)) node.value = new PyFloat(node.value);
      }
    },
  });
  return (doc.toJS({ maxAliasCount: 1000 }) ?? null) as Value;
}

/**
 * Python's `repr(float)` (shortest round-trip digits; scientific when the decimal exponent is
 * < -4 or >= 16, exponent with a sign and at least two digits: `1e-05`, `1.5e+16`, `0.0001`, `3.0`).
 * Source: CPython `float_repr` → `PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL)`.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() with no argument gives the shortest digits that round-trip, as Python's 'r'.
  const [mant, expStr] = Math.abs(x).toExponential().split("e");
  const exp = Number(expStr);
  const digits = mant.replace(".", "");
  const sign = x < 0 ? "-" : "";
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  let s: string;
  if (exp < 0) s = `0.${"0".repeat(-exp - 1)}${digits}`;
  else if (digits.length <= exp + 1) s = `${digits}${"0".repeat(exp + 1 - digits.length)}.0`;
  else s = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  return sign + s;
}

/**
 * How ruamel writes a Python float in YAML 1.2 (DVC's dumper): `repr`, lower-cased (`5e-05`, `0.0007`,
 * `1.0`). ruamel's `SafeRepresenter.represent_float` puts ".0" before the exponent (`5.0e-05`) only
 * when it emits YAML 1.1, which DVC does not ask for: DVC 3.64 writes `lr: 5e-05` into dvc.lock.
 */
export function ruamelFloat(x: number): string {
  if (Number.isNaN(x)) return ".nan";
  if (x === Infinity) return ".inf";
  if (x === -Infinity) return "-.inf";
  return pyFloatRepr(x).toLowerCase();
}

/** Python's `str()` of a scalar as DVC's `to_str` interpolates it (bools as true/false). */
export function pyStr(v: Value): string {
  if (v === null) return "None";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
  if (typeof v === "string") return v;
  throw new Error(`cannot turn a ${Array.isArray(v) ? "list" : "dictionary"} into a string`);
}

const WIDTH = 80; // ruamel/PyYAML Emitter.best_width

/** A scalar's text before folding, and whether it may be folded at single spaces (plain or single-quoted). */
function scalarText(v: unknown): { text: string; foldable: boolean } {
  if (v === null || v === undefined) return { text: "", foldable: false };
  if (v instanceof PyFloat) return { text: ruamelFloat(v.value), foldable: false };
  if (typeof v === "number") return { text: Number.isInteger(v) ? String(v) : ruamelFloat(v), foldable: false };
  if (typeof v === "boolean") return { text: v ? "true" : "false", foldable: false };
  const s = String(v);
  // Multi-line strings: double-quoted with escapes (valid YAML; ruamel would fold them single-quoted).
  if (/[\n\r]/.test(s)) return { text: JSON.stringify(s), foldable: false };
  // Whether the string can stay plain, or needs quotes, is the yaml library's call (YAML 1.2 core).
  let q = YAML.stringify(s, { lineWidth: 0, singleQuote: true }).replace(/\n$/, "");
  // PyYAML/ruamel single-quote any printable string ('' for a quote) where the yaml library would
  // switch to double quotes to avoid escaping one.
  if (q.startsWith('"') && /^[\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]*$/.test(s)) q = `'${s.replace(/'/g, "''")}'`;
  return { text: q, foldable: q === s || q.startsWith("'") };
}

/**
 * Writes a scalar that starts at `column`, folding it as ruamel/PyYAML `write_plain` /
 * `write_single_quoted` do: at a single space, once the column is past 80, break the line and
 * continue at `indent`.
 */
function emitScalar(v: unknown, column: number, indent: number): string {
  const { text, foldable } = scalarText(v);
  if (!foldable) return text;
  let out = "";
  let col = column;
  const words = text.split(/(?<! ) (?! )/); // break only at single spaces, as PyYAML does
  words.forEach((w, i) => {
    if (i > 0) {
      if (col > WIDTH) {
        out += "\n" + " ".repeat(indent);
        col = indent;
      } else {
        out += " ";
        col += 1;
      }
    }
    out += w;
    col += w.length;
  });
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> | Map<string, unknown> =>
  v instanceof Map || (!!v && typeof v === "object" && !Array.isArray(v) && !(v instanceof PyFloat));
const entriesOf = (v: Record<string, unknown> | Map<string, unknown>) =>
  v instanceof Map ? [...v] : Object.entries(v);

function emitMap(m: Record<string, unknown> | Map<string, unknown>, indent: number, firstInline: boolean): string[] {
  const lines: string[] = [];
  entriesOf(m).forEach(([k, v], i) => {
    const pad = i === 0 && firstInline ? "" : " ".repeat(indent);
    const head = `${pad}${emitScalar(k, indent, indent)}:`;
    lines.push(...emitValue(head, v, indent));
  });
  return lines;
}

function emitSeq(xs: unknown[], indent: number, firstInline: boolean): string[] {
  const lines: string[] = [];
  xs.forEach((x, i) => {
    const head = `${i === 0 && firstInline ? "" : " ".repeat(indent)}-`;
    if (isPlainObject(x) && entriesOf(x).length) {
      const inner = emitMap(x, indent + 2, true);
      lines.push(`${head} ${inner[0]}`, ...inner.slice(1));
    } else if (Array.isArray(x) && x.length) {
      const inner = emitSeq(x, indent + 2, true);
      lines.push(`${head} ${inner[0]}`, ...inner.slice(1));
    } else lines.push(...emitValue(head, x, indent));
  });
  return lines;
}

/** `head` is "key:" or "-"; returns the lines for its value (a mapping's sequence is not indented). */
function emitValue(head: string, v: unknown, indent: number): string[] {
  if (isPlainObject(v)) return entriesOf(v).length ? [head, ...emitMap(v, indent + 2, false)] : [`${head} {}`];
  if (Array.isArray(v))
    return v.length
      ? [head, ...emitSeq(v, head.trimStart().startsWith("-") ? indent + 2 : indent, false)]
      : [`${head} []`];
  const text = emitScalar(v, head.length + 1, indent + 2);
  return [text === "" ? head : `${head} ${text}`];
}

/** Writes YAML in ruamel's round-trip style (see the module comment). Maps keep their insertion order. */
export function stringifyYaml(value: unknown): string {
  if (isPlainObject(value)) return emitMap(value, 0, false).join("\n") + "\n";
  if (Array.isArray(value)) return emitSeq(value, 0, false).join("\n") + "\n";
  return emitScalar(value, 0, 0) + "\n";
}

/** Deep equality of parsed values, with `1 == 1.0` as in Python. */
export function valueEqual(a: unknown, b: unknown): boolean {
  if (a instanceof PyFloat) a = a.value;
  if (b instanceof PyFloat) b = b.value;
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => valueEqual(x, b[i]));
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return (
    ka.length === kb.length &&
    ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && valueEqual((a as never)[k], (b as never)[k]))
  );
}
