/**
 * The library's layers: a folder of lib/ imports only folders below it in LAYERS (types included),
 * and no two source files import each other, directly or around a loop. Tests may import anything.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { resolveLocal, runtimeSpecifiers } from "./repro/closure";

/** Bottom to top: each entry may import the ones before it. */
export const LAYERS = [
  "random",
  "runtime",
  "schedules",
  "tokenizer",
  "io",
  "repro",
  "plot",
  "data",
  "kernels",
  "backend",
  "diffusion",
  "models",
  "parallel",
  "train",
  "pipeline",
  "eval",
  "pretrain",
  "dreambooth",
  "experiment",
  "figures",
  "notebook",
  "index",
];

const root = path.resolve(__dirname, "..");
const lib = path.join(root, "lib");

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!["fixtures", "testdata"].includes(e.name)) sources(p, out);
    } else if (p.endsWith(".ts") && !p.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

/** The layer of a lib/ file: its top folder, or its own name for a file at lib/'s top. */
const layerOf = (file: string) => path.relative(lib, file).split(path.sep)[0].replace(/\.ts$/, "");

/** Every local import of every source file under lib/ and cli/ (type-only ones too). */
function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of [...sources(lib), ...sources(path.join(root, "cli"))]) {
    const targets = runtimeSpecifiers(f, fs.readFileSync(f, "utf8"), true)
      .filter((s) => s.startsWith("."))
      .map((s) => resolveLocal(f, s))
      .filter((t): t is string => !!t && t.endsWith(".ts"));
    g.set(f, targets);
  }
  return g;
}

test("each lib/ folder imports only the layers below it", () => {
  const g = importGraph();
  const wrong: string[] = [];
  for (const [from, tos] of g) {
    if (!from.startsWith(lib + path.sep)) continue;
    const a = LAYERS.indexOf(layerOf(from));
    assert.ok(a >= 0, `${path.relative(root, from)}: its folder is not in LAYERS; place it there`);
    for (const to of tos) {
      if (!to.startsWith(lib + path.sep)) continue;
      const b = LAYERS.indexOf(layerOf(to));
      if (b > a)
        wrong.push(
          `${path.relative(root, from)} (${layerOf(from)}) imports ${path.relative(root, to)} (${layerOf(to)})`,
        );
    }
  }
  assert.deepEqual(wrong, []);
});

test("no import cycle between source files", () => {
  const g = importGraph();
  // Tarjan's strongly connected components: a component of more than one file is a cycle
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(path.relative(root, w));
      } while (w !== v);
      if (comp.length > 1) cycles.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles, []);
});
