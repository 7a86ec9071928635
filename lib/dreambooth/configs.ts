/**
 * The paper's four forward processes, and the no-prior-preservation reference, by the names the
 * pipeline uses (`dreambooth train --config <name>`, runs/dreambooth/<name>/<seed>).
 */
import type { ScheduleConfig } from "../schedules";

export interface FineTuneConfig {
  schedule: Pick<ScheduleConfig, "kind" | "zeroTerminalSnr">;
  /** prior preservation with the class images */
  prior: boolean;
}

export const FINE_TUNE_CONFIGS = {
  linear: { schedule: { kind: "linear", zeroTerminalSnr: false }, prior: true },
  "linear-ztsnr": { schedule: { kind: "linear", zeroTerminalSnr: true }, prior: true },
  sigmoid: { schedule: { kind: "sigmoid", zeroTerminalSnr: false }, prior: true },
  "sigmoid-ztsnr": { schedule: { kind: "sigmoid", zeroTerminalSnr: true }, prior: true },
  "sigmoid-ztsnr-noprior": { schedule: { kind: "sigmoid", zeroTerminalSnr: true }, prior: false },
} as const satisfies Record<string, FineTuneConfig>;

export type FineTuneName = keyof typeof FINE_TUNE_CONFIGS;
export const FINE_TUNE_NAMES = Object.keys(FINE_TUNE_CONFIGS) as FineTuneName[];

/** The name of a setting: the schedule, "-ztsnr" with zero terminal SNR, "-noprior" without prior preservation. */
export function fineTuneName(kind: string, zeroTerminalSnr: boolean, prior: boolean): string {
  return `${kind}${zeroTerminalSnr ? "-ztsnr" : ""}${prior ? "" : "-noprior"}`;
}
