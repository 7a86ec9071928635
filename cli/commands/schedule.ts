/** `dreambooth schedule`: print a noise schedule's betas, ᾱ and SNR. */
import { Command, bool, int, num, parseArgs, str, UsageError } from "../command";
import { makeSchedule, SCHEDULE_KINDS, ScheduleKind } from "../../lib/schedules";

const usage = `usage: dreambooth schedule --kind <${SCHEDULE_KINDS.join("|")}> [--zero-terminal-snr]
                          [--timesteps N] [--beta-start x] [--beta-end y] [--json]

Prints the schedule. With --json: {"betas": [...], "alphasCumprod": [...], "snr": [...]},
each of length T, index 0 is t = 1. Without: a table of every 100th timestep.`;

export const command: Command = {
  name: "schedule",
  summary: "print a noise schedule (β, ᾱ, SNR), optionally with zero terminal SNR",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["kind", "timesteps", "beta-start", "beta-end"], ["zero-terminal-snr", "json"]);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"\n${usage}`);
    const kind = str(args, "kind");
    if (!kind) throw new UsageError(`--kind is required: one of ${SCHEDULE_KINDS.join(", ")}`);
    const s = makeSchedule({
      kind: kind as ScheduleKind,
      timesteps: int(args, "timesteps"),
      betaStart: num(args, "beta-start"),
      betaEnd: num(args, "beta-end"),
      zeroTerminalSnr: bool(args, "zero-terminal-snr"),
    });
    if (bool(args, "json")) {
      // JSON.stringify writes the shortest decimal that round-trips, so the numbers are the library's exactly.
      process.stdout.write(
        JSON.stringify({ betas: Array.from(s.betas), alphasCumprod: Array.from(s.alphasCumprod), snr: Array.from(s.snr) }) + "\n",
      );
      return 0;
    }
    const step = Math.max(1, Math.floor(s.T / 10));
    const rows = ["     t          β_t            ᾱ_t       sqrt(ᾱ_t)            SNR"];
    for (let i = 0; i < s.T; i += step) rows.push(row(i));
    if ((s.T - 1) % step !== 0) rows.push(row(s.T - 1));
    function row(i: number) {
      const f = (x: number) => x.toExponential(6).padStart(14);
      return `${String(i + 1).padStart(6)} ${f(s.betas[i])} ${f(s.alphasCumprod[i])} ${f(s.sqrtAlphasCumprod[i])} ${f(s.snr[i])}`;
    }
    console.log(`${s.config.kind}${s.config.zeroTerminalSnr ? " + zero terminal SNR" : ""}, T = ${s.T}`);
    console.log(rows.join("\n"));
    return 0;
  },
};
