#!/usr/bin/env node
/** The `dreambooth` CLI: one subcommand per pipeline step. */
import { Command, UsageError } from "./command";
import { command as schedule } from "./commands/schedule";
import { command as tokenize } from "./commands/tokenize";
import { command as data } from "./commands/data";
import { command as repro } from "./commands/repro";
import { command as experiment } from "./commands/experiment";
import { command as modelInfo } from "./commands/model-info";
import { command as pretrain } from "./commands/pretrain";
import { command as sample } from "./commands/sample";
import { command as classImages } from "./commands/class-images";
import { command as train } from "./commands/train";
import { command as figure } from "./commands/figure";
import { command as trainEvaluator } from "./commands/train-evaluator";
import { command as evaluate } from "./commands/evaluate";
import { command as samples } from "./commands/samples";
import { command as score } from "./commands/score";
import { command as compare } from "./commands/compare";
import { command as baseEval } from "./commands/base-eval";
import { command as evaluatorAccuracy } from "./commands/evaluator-accuracy";

export const COMMANDS: Command[] = [
  schedule,
  tokenize,
  data,
  modelInfo,
  pretrain,
  sample,
  classImages,
  train,
  trainEvaluator,
  evaluatorAccuracy,
  evaluate,
  samples,
  score,
  compare,
  baseEval,
  experiment,
  figure,
  repro,
];

/** The subcommands' names (the pipeline's test checks every dvc.yaml stage calls one of them). */
export const COMMAND_NAMES = COMMANDS.map((c) => c.name);

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: dreambooth <command> [options]    (dreambooth <command> --help for its options)",
    "",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h") {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`dreambooth: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof Error && e.name.endsWith("Error") && e.name !== "Error" && e.name !== "TypeError")
    ) {
      console.error(`dreambooth ${name}: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      console.error(e instanceof Error ? (e.stack ?? e.message) : e);
      process.exitCode = 1;
    },
  );
}
