/** `dreambooth schedule`: print a noise schedule's betas, ᾱ and SNR. */
import { defineCommand } from "../command";
import { makeSchedule, SCHEDULE_KINDS } from "../../lib/schedules";

export const command = defineCommand({
  name: "schedule",
  summary: "print a noise schedule (β, ᾱ, SNR), optionally with zero terminal SNR",
  description: `Prints every 100th timestep as a table, or with --json the whole schedule:
{"betas": [...], "alphasCumprod": [...], "snr": [...]}, each of length T, index 0 is t = 1.`,
  options: {
    kind: { type: "string", choices: SCHEDULE_KINDS, required: true, help: "the β schedule" },
    "zero-terminal-snr": { type: "boolean", help: "rescale it so that SNR_T = 0 (Lin et al. 2023, Algorithm 1)" },
    timesteps: { type: "integer", min: 2, help: "T (default: 1000)" },
    "beta-start": { type: "number", help: "β_1 (default: the schedule's own)" },
    "beta-end": { type: "number", help: "β_T before any rescaling (default: the schedule's own)" },
    json: { type: "boolean", help: "print JSON instead of a table" },
  },
  async run(o) {
    const s = makeSchedule({
      kind: o.kind,
      timesteps: o.timesteps,
      betaStart: o.betaStart,
      betaEnd: o.betaEnd,
      zeroTerminalSnr: o.zeroTerminalSnr,
    });
    if (o.json) {
      // JSON.stringify writes the shortest decimal that round-trips, so the numbers are the library's exactly.
      const json = { betas: Array.from(s.betas), alphasCumprod: Array.from(s.alphasCumprod), snr: Array.from(s.snr) };
      process.stdout.write(JSON.stringify(json) + "\n");
      return 0;
    }
    const step = Math.max(1, Math.floor(s.T / 10));
    const f = (x: number) => x.toExponential(6).padStart(14);
    const row = (i: number) =>
      `${String(i + 1).padStart(6)} ${f(s.betas[i])} ${f(s.alphasCumprod[i])} ${f(s.sqrtAlphasCumprod[i])} ${f(s.snr[i])}`;
    const rows = ["     t          β_t            ᾱ_t       sqrt(ᾱ_t)            SNR"];
    for (let i = 0; i < s.T; i += step) rows.push(row(i));
    if ((s.T - 1) % step !== 0) rows.push(row(s.T - 1));
    console.log(`${s.config.kind}${s.config.zeroTerminalSnr ? " + zero terminal SNR" : ""}, T = ${s.T}`);
    console.log(rows.join("\n"));
    return 0;
  },
});
