/**
 * `dreambooth experiment`: the paper's four-way experiment (plus the base-model and no-prior rows),
 * end to end: class images, the five fine-tunings, sampling, scoring and the table. It is the
 * `report` stage of dvc.yaml with everything it depends on, so it is resumable for free: a
 * fine-tuning already recorded in dvc.lock with unchanged inputs is skipped, an interrupted one
 * resumes from its last checkpoint (`dreambooth train` does), and changing one parameter reruns
 * exactly what depends on it.
 */
import { Command, UsageError } from "../command";
import { command as repro } from "./repro";

export const EXPERIMENT_TARGET = "report";

const usage = `usage: dreambooth experiment [--dry] [-f|--force] [--builtin]

Runs every configuration of the experiment that is not finished yet — class images, DreamBooth with
linear, linear + zero terminal SNR, sigmoid, sigmoid + zero terminal SNR and the no-prior reference,
samples of each and of the base model, their scores — and writes metrics/table.md and table.json.
Settings come from params.yaml (sections class_images, dreambooth, samples). Finished runs are
skipped (dvc.lock records them); --dry says what would run and why; --force reruns everything.
The same as \`dreambooth repro ${EXPERIMENT_TARGET}\` (or \`dvc repro ${EXPERIMENT_TARGET}\`).`;

export const command: Command = {
  name: "experiment",
  summary: "run the four-way experiment (+ base and no-prior rows): resumable, skips finished runs",
  usage,
  async run(argv) {
    for (const a of argv) {
      if (!["--dry", "-f", "--force", "--builtin"].includes(a)) throw new UsageError(`unknown argument ${a}\n${usage}`);
    }
    return repro.run([EXPERIMENT_TARGET, ...argv]);
  },
};
