/**
 * The project's own dvc.yaml: a valid DAG whose stages each call one `bin/dreambooth` subcommand, read
 * one params.yaml section (and `base`), depend on things that exist or that another stage makes and on
 * every source file their command can run; and a change to one parameter reaches exactly the stages
 * that depend on it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { loadStages } from "./dvcyaml";
import { buildGraph, Graph } from "./graph";
import { COMMAND_NAMES } from "../../cli/main";
import { covers, importClosure } from "./closure";
import { readLock, stringifyLock } from "./lock";
import { paramValues } from "./repro";
import { valueEqual } from "./yaml";

const root = path.resolve(__dirname, "..", "..");
const stages = loadStages(root);
const g = buildGraph(root, stages);

/** Stages that read a parameter, and everything downstream of them: what a change to it reruns. */
function affectedBy(graph: Graph, key: string): string[] {
  const direct = [...graph.stages.values()].filter((s) =>
    s.params.some((p) => p.keys.some((k) => k === key || key.startsWith(k + ".") || k.startsWith(key + "."))),
  );
  const hit = new Set(direct.map((s) => s.name));
  for (const name of graph.order) if ([...graph.upstream.get(name)!].some((u) => hit.has(u))) hit.add(name);
  return graph.order.filter((n) => hit.has(n)).sort();
}

/** The CLI subcommand a stage runs (`bin/dreambooth <name> …`), or null. */
const subcommand = (s: { cmd: string | string[] }) =>
  /^(?:bin\/)?dreambooth ([a-z-]+)/.exec(Array.isArray(s.cmd) ? s.cmd.join(" && ") : s.cmd)?.[1] ?? null;

test("dvc.yaml is a valid pipeline: no cycle, no overlapping outputs, every stage one bin/dreambooth subcommand", () => {
  assert.ok(g.order.length >= 20, `${g.order.length} stages`);
  for (const s of stages) {
    const sub = subcommand(s);
    assert.ok(
      sub && String(s.cmd).startsWith("bin/"),
      `${s.name}: cmd must call the CLI as bin/dreambooth, which runs from any shell (${s.cmd})`,
    );
    assert.ok(COMMAND_NAMES.includes(sub), `${s.name}: unknown subcommand "${sub}"`);
    const sections = new Set(s.params.flatMap((p) => p.keys.map((k) => k.split(".")[0])));
    sections.delete("base");
    assert.ok(
      sections.size <= 1,
      `${s.name} reads ${[...sections].join(", ")}: a stage reads one params.yaml section (and base)`,
    );
  }
});

test("every stage's deps cover the code its command runs: the command module's whole import closure", () => {
  const missing: string[] = [];
  for (const s of stages) {
    const entry = `cli/commands/${subcommand(s)}.ts`;
    const { files, data } = importClosure(root, [entry]);
    const needed = [...files.filter((f) => !f.endsWith(".test.ts")), ...data];
    for (const f of needed) if (!s.deps.some((d) => covers(d, f))) missing.push(`${s.name}: ${f}`);
  }
  assert.deepEqual(missing, [], `dvc.yaml deps miss what the stages run:\n  ${missing.join("\n  ")}`);
});

test("every dependency exists in the repository, is data/ (data.dvc), or is made by other stages", () => {
  const outs = stages.flatMap((s) => s.outs.map((o) => path.resolve(root, o.path)));
  for (const s of stages) {
    for (const d of s.deps) {
      const abs = path.resolve(root, d);
      // made: an output itself, inside one, or a folder of outputs (the compare stage reads runs/scores)
      const made = outs.some((o) => abs === o || abs.startsWith(o + path.sep) || o.startsWith(abs + path.sep));
      const tracked = d === "data" && fs.existsSync(path.join(root, "data.dvc"));
      assert.ok(made || tracked || fs.existsSync(abs), `${s.name}: dependency ${d} neither exists nor is produced`);
    }
  }
});

test("changing one parameter reruns exactly the stages that depend on it", () => {
  const configs = ["linear", "linear-ztsnr", "sigmoid", "sigmoid-ztsnr", "sigmoid-ztsnr-noprior"];
  const seeds = [0, 1, 2];
  const each = (stage: string) => configs.flatMap((c) => seeds.map((k) => `${stage}@${c}-${k}`));
  const downstream = ["compare", "fig_effects", "fig6_comparison", "fig7_prompts", "table1_environment"];
  assert.deepEqual(
    affectedBy(g, "dreambooth.lr"),
    [...each("dreambooth"), ...each("samples"), ...each("score"), ...downstream].sort(),
  );
  assert.deepEqual(affectedBy(g, "schedules.timesteps"), ["schedules"]);
  assert.deepEqual(
    affectedBy(g, "samples.steps"),
    ["base_samples", "base_score", ...each("samples"), ...each("score"), ...downstream].sort(),
  );
  // the face dataset feeds the frozen pretraining only: changing it reruns the dataset, not the model
  const faces = affectedBy(g, "faces.train");
  assert.ok(faces.includes("faces") && faces.includes("pretrain"));
  assert.ok(g.stages.get("pretrain")!.frozen, "pretraining is frozen: the committed weights are used unless forced");
  // class images feed every fine-tuning (with prior preservation or not: one stage definition)
  const cls = affectedBy(g, "class_images.count");
  for (const name of each("dreambooth")) assert.ok(cls.includes(name), name);
  assert.ok(cls.includes("fig4_class_images") && !cls.includes("schedules"));
  // the base model reaches everything that samples or trains, not the schedules figure
  const base = affectedBy(g, "base.model");
  assert.ok(
    base.includes("class_images") &&
      base.includes("base_samples") &&
      base.includes("compare") &&
      !base.includes("schedules"),
  );
});

test("dvc.lock is written as DVC 3.64 writes it: params in Python's float repr, byte for byte, and current", () => {
  const text = fs.readFileSync(path.join(root, "dvc.lock"), "utf8");
  // ruamel writes `5.0e-05` only for YAML 1.1; DVC's YAML 1.2 dumper writes `lr: 5e-05`, `kl_weight: 1e-06`
  const v11 = text.split("\n").filter((l) => /:\s+-?\d+\.0e[-+]\d+\s*$/.test(l));
  assert.deepEqual(v11, [], "floats written the YAML 1.1 way");
  const lock = readLock(root);
  assert.equal(stringifyLock(lock), text, "dvc.lock round-trips byte for byte through the runner's writer");
  for (const s of stages) {
    const locked = lock.get(s.name)?.params;
    if (!locked) continue;
    assert.ok(
      valueEqual(locked, paramValues(root, s)),
      `${s.name}: dvc.lock's params differ from params.yaml (rerun the stage)`,
    );
  }
});
