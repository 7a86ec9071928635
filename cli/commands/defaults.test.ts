/**
 * The CLI takes the pipeline's defaults from params.yaml: every option that names a params key resolves
 * to that key's value and prints it in its usage, and every dvc.yaml stage passes those options
 * explicitly, so a stage never depends on a value DVC does not track for it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { optionDefault, param } from "../command";
import { COMMANDS } from "../main";
import { loadStages } from "../../lib/repro/dvcyaml";
import { readSchedulerConfig } from "../../lib/pipeline/stable-diffusion";
import { command as pretrainCommand } from "./pretrain";
import { command as trainCommand } from "./train";

const root = path.resolve(__dirname, "..", "..");

test("options that name a params.yaml key default to its value, and the usage says so", () => {
  let n = 0;
  for (const c of COMMANDS) {
    for (const [name, o] of Object.entries(c.options)) {
      if (!o.param) continue;
      n++;
      const v = param(o.param);
      assert.equal(optionDefault(o), v);
      assert.ok(
        c.usage.replace(/\s+/g, " ").includes(`[default ${v}, params.yaml ${o.param}]`),
        `${c.name} --${name}: usage shows ${v}`,
      );
    }
  }
  assert.ok(n >= 30, `${n} options read params.yaml`);
  assert.match(
    trainCommand.usage.replace(/\s+/g, " "),
    /--lr <x> learning rate .*\[default 0\.0001, params\.yaml dreambooth\.lr\]/,
  );
});

test("every stage passes each option whose default is a params.yaml value, or declares the key (DVC tracks it)", () => {
  const byName = new Map(COMMANDS.map((c) => [c.name, c]));
  const hidden: string[] = [];
  for (const s of loadStages(root)) {
    const cmd = String(s.cmd);
    const c = byName.get(/^bin\/dreambooth ([a-z-]+)/.exec(cmd)![1])!;
    for (const [name, o] of Object.entries(c.options)) {
      if (!o.param || new RegExp(`(^| )--${name}( |=|$)`).test(cmd)) continue;
      const declared = s.params.some(
        (p) => p.file === "params.yaml" && p.keys.some((k) => k === o.param || o.param!.startsWith(k + ".")),
      );
      if (!declared) hidden.push(`${s.name}: --${name} (${o.param})`);
    }
  }
  assert.deepEqual(hidden, []);
});

test("the fine-tuning predicts what the committed base model predicts", () => {
  const prediction = param("dreambooth.prediction");
  assert.equal(prediction, readSchedulerConfig(path.join(root, "models/tiny-sd")).predictionType);
  assert.equal(param("pretrain.prediction"), prediction);
});

test("a bad value is refused with the values accepted, before any work starts", async () => {
  const args = ["--data", "/nonexistent/no-data", "--out", "/nonexistent/never-written"];
  await assert.rejects(
    pretrainCommand.run(["--token-table", "yes", ...args]),
    /--token-table must be one of: frozen, trained \(got "yes"\)/,
  );
  await assert.rejects(
    trainCommand.run(["--schedule", "linear", "--lr", "fast"]),
    /--lr must be a number \(got "fast"\)/,
  );
  await assert.rejects(trainCommand.run(["--lr", "1e-5"]), /--schedule is required/);
  await assert.rejects(trainCommand.run(["--schedule", "linear", "--steps", "2.5"]), /--steps must be an integer/);
  await assert.rejects(
    trainCommand.run(["--schedule", "linear", "--zero-terminal-snr=yes"]),
    /--zero-terminal-snr takes no value/,
  );
});
