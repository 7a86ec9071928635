/** `dreambooth figure <name>`: one paper figure (PNG + the numbers behind it as JSON) per call. */
import { Command, int, parseArgs, str, UsageError } from "../command";
import { schedulesFigure } from "../../lib/figures/schedules";

const FIGURES = ["schedules"] as const;

const usage = `usage: dreambooth figure <${FIGURES.join("|")}> [--out paper-figures] [--timesteps 1000]

  schedules   β, ᾱ and SNR of every schedule, with and without zero terminal SNR (schedules.png, schedules.json)`;

export const command: Command = {
  name: "figure",
  summary: "draw a paper figure with the numbers behind it",
  usage,
  async run(argv) {
    const a = parseArgs(argv, ["out", "timesteps"]);
    const name = a.positional[0];
    if (!name || !(FIGURES as readonly string[]).includes(name)) throw new UsageError(`name a figure: one of ${FIGURES.join(", ")}\n${usage}`);
    const files = await schedulesFigure({ out: str(a, "out", "paper-figures")!, timesteps: int(a, "timesteps", 1000)! });
    console.log(`wrote ${files.join(", ")}`);
    return 0;
  },
};
