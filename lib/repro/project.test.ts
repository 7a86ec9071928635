/**
 * The project's own dvc.yaml: a valid DAG whose stages each call one `dreambooth` subcommand, read
 * one params.yaml section, and depend on things that exist or that another stage makes; and a
 * change to one parameter reaches exactly the stages that depend on it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { loadStages } from "./dvcyaml";
import { buildGraph, Graph } from "./graph";
import { COMMAND_NAMES } from "../../cli/main";

const root = path.resolve(__dirname, "..", "..");
const stages = loadStages(root);
const g = buildGraph(root, stages);

/** Stages that read a parameter, and everything downstream of them: what a change to it reruns. */
function affectedBy(graph: Graph, key: string): string[] {
  const direct = [...graph.stages.values()].filter((s) => s.params.some((p) => p.keys.some((k) => k === key || key.startsWith(k + ".") || k.startsWith(key + "."))));
  const hit = new Set(direct.map((s) => s.name));
  for (const name of graph.order) if ([...graph.upstream.get(name)!].some((u) => hit.has(u))) hit.add(name);
  return graph.order.filter((n) => hit.has(n)).sort();
}

test("dvc.yaml is a valid pipeline: no cycle, no overlapping outputs, every stage one dreambooth subcommand", () => {
  assert.ok(g.order.length >= 20, `${g.order.length} stages`);
  for (const s of stages) {
    const cmd = Array.isArray(s.cmd) ? s.cmd.join(" && ") : s.cmd;
    const m = /^dreambooth ([a-z-]+)/.exec(cmd);
    assert.ok(m, `${s.name}: cmd must call the dreambooth CLI (${cmd})`);
    assert.ok(COMMAND_NAMES.includes(m[1]), `${s.name}: unknown subcommand "${m[1]}"`);
    const sections = new Set(s.params.flatMap((p) => p.keys.map((k) => k.split(".")[0])));
    assert.ok(sections.size <= 1, `${s.name} reads ${[...sections].join(", ")}: a stage reads one params.yaml section`);
  }
});

test("every dependency exists in the repository, is data/ (data.dvc), or is made by another stage", () => {
  const outs = stages.flatMap((s) => s.outs.map((o) => path.resolve(root, o.path)));
  for (const s of stages) {
    for (const d of s.deps) {
      const abs = path.resolve(root, d);
      const made = outs.some((o) => abs === o || abs.startsWith(o + path.sep));
      const tracked = d === "data" && fs.existsSync(path.join(root, "data.dvc"));
      assert.ok(made || tracked || fs.existsSync(abs), `${s.name}: dependency ${d} neither exists nor is produced`);
    }
  }
});

test("changing one parameter reruns exactly the stages that depend on it", () => {
  const fine = ["linear", "linear-ztsnr", "sigmoid", "sigmoid-ztsnr", "sigmoid-ztsnr-noprior"];
  const expectDreambooth = [
    ...fine.map((k) => `dreambooth@${k}`),
    ...fine.map((k) => `samples@${k}`),
    ...fine.map((k) => `score@${k}`),
    "report",
    "fig6_comparison",
    "fig7_prompts",
    "table1_environment", // the environment is recorded with the results it produced
  ].sort();
  assert.deepEqual(affectedBy(g, "dreambooth.lr"), expectDreambooth);
  assert.deepEqual(affectedBy(g, "schedules.timesteps"), ["schedules"]);
  const all = ["base", ...fine];
  assert.deepEqual(affectedBy(g, "samples.steps"), [...all.map((k) => `samples@${k}`), ...all.map((k) => `score@${k}`), "report", "fig6_comparison", "fig7_prompts", "table1_environment"].sort());
  // the face dataset feeds the frozen pretraining only: changing it reruns the dataset, not the model
  const faces = affectedBy(g, "faces.train");
  assert.ok(faces.includes("faces") && faces.includes("pretrain"));
  assert.ok(g.stages.get("pretrain")!.frozen, "pretraining is frozen: the committed weights are used unless forced");
  // class images feed every fine-tuning with prior preservation
  const cls = affectedBy(g, "class_images.count");
  for (const k of fine) assert.ok(cls.includes(`dreambooth@${k}`), k);
  assert.ok(cls.includes("fig4_class_images") && !cls.includes("schedules"));
});
