/** Chart specs for schedule curves: one colour per kind, dashed with zero terminal SNR. */
import { ChartSpec, PALETTE } from "./chart";
import { SCHEDULE_KINDS } from "../schedules/schedule";
import type { ScheduleVariant } from "../schedules/compare";

export type ScheduleField = "betas" | "alphasCumprod" | "sqrtAlphasCumprod" | "snr" | "logSnr";

const DEFAULTS: Record<ScheduleField, { title: string; yLabel: string; yLog: boolean }> = {
  betas: { title: "β_t", yLabel: "β_t (log scale)", yLog: true },
  alphasCumprod: { title: "ᾱ_t", yLabel: "ᾱ_t", yLog: false },
  sqrtAlphasCumprod: { title: "sqrt(ᾱ_t): the share of x_0 left in x_t", yLabel: "sqrt(ᾱ_t)", yLog: false },
  snr: { title: "SNR(t) = ᾱ_t / (1 − ᾱ_t)", yLabel: "SNR (log scale)", yLog: true },
  logSnr: { title: "log SNR(t)", yLabel: "log SNR", yLog: false },
};

/** The curves of one schedule field for several variants, against t = 1 … T. */
export function scheduleChart(variants: ScheduleVariant[], field: ScheduleField, opts: Partial<ChartSpec> = {}): ChartSpec {
  const d = DEFAULTS[field];
  return {
    title: d.title,
    xLabel: "timestep t",
    yLabel: d.yLabel,
    yLog: d.yLog,
    width: 780,
    height: 420,
    ...opts,
    series: variants.map((v) => ({
      name: v.label,
      x: Array.from({ length: v.schedule.T }, (_, i) => i + 1),
      y: v.schedule[field],
      color: PALETTE[SCHEDULE_KINDS.indexOf(v.kind)],
      dash: v.zeroTerminalSnr,
    })),
  };
}
