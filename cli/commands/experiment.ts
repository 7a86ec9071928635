/**
 * `dreambooth experiment`: the paper's four-way experiment (plus the base-model and no-prior rows),
 * end to end: class images, the five fine-tunings, sampling, scoring and the table. It is the
 * `report` stage of dvc.yaml with everything it depends on, so it is resumable for free: a
 * fine-tuning already recorded in dvc.lock with unchanged inputs is skipped, an interrupted one
 * resumes from its last checkpoint (`dreambooth train` does), and changing one parameter reruns
 * exactly what depends on it.
 */
import { defineCommand } from "../command";
import { command as repro } from "./repro";

export const EXPERIMENT_TARGET = "compare";

export const command = defineCommand({
  name: "experiment",
  summary: "run the four-way comparison (every training seed, + base and no-prior): resumable, skips finished runs",
  description: `Runs every configuration of the experiment that is not finished yet (class images, the fine-tunings,
samples of each and of the base model, their scores) and writes the results. Settings come from
params.yaml; finished runs are skipped (dvc.lock records them). The same as \`dreambooth repro ${EXPERIMENT_TARGET}\`
(or \`dvc repro ${EXPERIMENT_TARGET}\`).`,
  options: {
    force: { type: "boolean", short: "f", help: "rerun everything" },
    dry: { type: "boolean", help: "say what would run and why" },
    builtin: { type: "boolean", help: "use the built-in runner even when dvc is installed" },
  },
  async run(_o, _positionals, argv) {
    return repro.run([EXPERIMENT_TARGET, ...argv]);
  },
});
