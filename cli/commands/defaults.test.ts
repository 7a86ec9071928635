/**
 * `dreambooth pretrain` and `dreambooth train` say their defaults are the pipeline's recipe: hold them
 * equal to params.yaml's pretrain and dreambooth sections, key by key, and the prediction type the
 * fine-tuning uses equal to what the committed base model predicts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { parseYaml } from "../../lib/repro/yaml";
import { readSchedulerConfig } from "../../lib/pipeline/stable-diffusion";
import { PRETRAIN_DEFAULTS, command as pretrainCommand } from "./pretrain";
import { DREAMBOOTH_DEFAULTS, command as trainCommand } from "./train";

const root = path.resolve(__dirname, "..", "..");
const params = parseYaml(fs.readFileSync(path.join(root, "params.yaml"), "utf8"), "params.yaml") as Record<string, Record<string, unknown>>;

test("pretrain's defaults are params.yaml's pretrain section, and its usage prints them", () => {
  assert.deepEqual(params.pretrain, { ...PRETRAIN_DEFAULTS });
  for (const [k, v] of [["--steps", PRETRAIN_DEFAULTS.steps], ["--batch", PRETRAIN_DEFAULTS.batch], ["--images", PRETRAIN_DEFAULTS.images], ["--token-table", PRETRAIN_DEFAULTS.token_table]] as const) {
    assert.match(pretrainCommand.usage, new RegExp(`\\[${k} ${v}\\]`), `usage shows ${k} ${v}`);
  }
});

test("train's defaults are params.yaml's dreambooth section; its prediction is the base model's", () => {
  const { prediction, ...rest } = params.dreambooth;
  assert.deepEqual(rest, { ...DREAMBOOTH_DEFAULTS });
  assert.equal(prediction, readSchedulerConfig(path.join(root, "models/tiny-sd")).predictionType);
  assert.equal(params.pretrain.prediction, prediction);
  assert.match(trainCommand.usage, new RegExp(`\\[--lr ${DREAMBOOTH_DEFAULTS.lr}\\]`));
});

test("pretrain rejects a --token-table other than frozen or trained before it starts any work", async () => {
  await assert.rejects(pretrainCommand.run(["--token-table", "yes", "--data", "/nonexistent/no-data", "--out", "/nonexistent/never-written"]), /--token-table must be one of: frozen, trained \(got "yes"\)/);
});
