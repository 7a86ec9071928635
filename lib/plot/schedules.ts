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

/**
 * The curves of one schedule field for several variants, against t = 1 … T, or against the
 * timesteps of `tRange` only (1-based, inclusive: [900, 1000] draws the last 101 steps).
 */
export function scheduleChart(
  variants: ScheduleVariant[],
  field: ScheduleField,
  opts: Partial<ChartSpec> & { tRange?: [number, number] } = {},
): ChartSpec {
  const d = DEFAULTS[field];
  const { tRange, ...spec } = opts;
  return {
    title: d.title,
    xLabel: "timestep t",
    yLabel: d.yLabel,
    yLog: d.yLog,
    width: 780,
    height: 420,
    ...spec,
    series: variants.map((v) => {
      const [from, to] = tRange ?? [1, v.schedule.T];
      if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 1 && from <= to && to <= v.schedule.T)) {
        throw new Error(`tRange must be whole timesteps with 1 ≤ from ≤ to ≤ ${v.schedule.T} (got [${from}, ${to}])`);
      }
      return {
        name: v.label,
        x: Array.from({ length: to - from + 1 }, (_, i) => from + i),
        y: Array.from(v.schedule[field].subarray(from - 1, to)),
        color: PALETTE[SCHEDULE_KINDS.indexOf(v.kind)],
        dash: v.zeroTerminalSnr,
      };
    }),
  };
}
