/**
 * The evaluator's files, in one folder (default `models/evaluator/`):
 *   evaluator.safetensors  the weights (torch layout, float16 by default: ~1 MB), via lib/io `writeWeights`
 *   config.json            the network config, the training config, the command that made them and
 *                          the held-out accuracies
 *   training-log.jsonl     one line per step (loss, attribute loss, identity loss, seconds)
 * Every file is written atomically (lib/io `writeFileAtomic`).
 */
import fs from "fs";
import path from "path";
import { readWeights, writeWeights } from "../models/weights";
import { writeFileAtomic } from "../io/atomic";
import { arraysFromParamsAsync, paramsFromArrays } from "../models/variables";
import { Params } from "../models/params";
import { EvaluatorConfig, evaluatorSpecs, checkConfig } from "./model";

export const WEIGHTS_FILE = "evaluator.safetensors";
export const CONFIG_FILE = "config.json";
export const LOG_FILE = "training-log.jsonl";
/** Where the committed evaluator lives, relative to the repository root. */
export const DEFAULT_EVALUATOR_DIR = "models/evaluator";

/**
 * The committed evaluator folder: `models/evaluator` under the working directory if it is there, else
 * under the package root (the first folder above this file with a package.json), so the command
 * works from any directory and from the built `dist/`.
 */
// reads: models/evaluator
export function defaultEvaluatorDir(): string {
  if (fs.existsSync(path.join(DEFAULT_EVALUATOR_DIR, CONFIG_FILE))) return DEFAULT_EVALUATOR_DIR;
  for (let d = __dirname; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json"))) return path.join(d, DEFAULT_EVALUATOR_DIR);
    if (path.dirname(d) === d) return DEFAULT_EVALUATOR_DIR;
  }
}

export interface EvaluatorFolderConfig {
  model: EvaluatorConfig;
  [key: string]: unknown;
}

/** Writes weights (F16 unless `dtype: "F32"`), config.json and, if given, the training log. */
export async function saveEvaluator(
  dir: string,
  params: Params,
  config: EvaluatorFolderConfig,
  log?: readonly object[],
  dtype: "F16" | "F32" = "F16",
): Promise<void> {
  const specs = evaluatorSpecs(config.model);
  writeWeights(path.join(dir, WEIGHTS_FILE), await arraysFromParamsAsync(params), specs, {
    dtype,
    metadata: { model: "improved-dreambooth attribute evaluator" },
  });
  writeFileAtomic(path.join(dir, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  if (log) writeFileAtomic(path.join(dir, LOG_FILE), log.map((l) => JSON.stringify(l) + "\n").join(""));
}

/** Reads an evaluator folder: its config and its weights as (non-trainable) variables. */
export function loadEvaluator(dir: string): { params: Params; config: EvaluatorFolderConfig } {
  const cfgFile = path.join(dir, CONFIG_FILE);
  const fix =
    "fix: pass --evaluator <folder with config.json and evaluator.safetensors>, or retrain it with `dreambooth train-evaluator`";
  if (!fs.existsSync(cfgFile)) throw new Error(`evaluator config ${cfgFile} does not exist; ${fix}`);
  let config: EvaluatorFolderConfig;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, "utf8"));
  } catch (e) {
    throw new Error(`evaluator config ${cfgFile} is not valid JSON (${(e as Error).message}); ${fix}`, { cause: e });
  }
  if (!config?.model || !Array.isArray(config.model.channels) || !Array.isArray(config.model.heads)) {
    throw new Error(`evaluator config ${cfgFile} has no "model" section with channels and heads; ${fix}`);
  }
  checkConfig(config.model);
  const specs = evaluatorSpecs(config.model);
  const weightsFile = path.join(dir, WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile)) throw new Error(`evaluator weights ${weightsFile} do not exist; ${fix}`);
  const arrays = readWeights(weightsFile, specs);
  return { params: paramsFromArrays(arrays, specs, { trainable: false }), config };
}
