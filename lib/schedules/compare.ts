/** Side-by-side numbers for every schedule, with and without zero terminal SNR (the notebook's table). */
import { makeSchedule, NoiseSchedule, SCHEDULE_KINDS, ScheduleConfig, ScheduleKind } from "./schedule";

export interface ScheduleVariant {
  label: string;
  kind: ScheduleKind;
  zeroTerminalSnr: boolean;
  schedule: NoiseSchedule;
}

/** Every kind, without and with zero terminal SNR (T = 1000, published β ranges). */
export function allScheduleVariants(extra: Omit<ScheduleConfig, "kind" | "zeroTerminalSnr"> = {}): ScheduleVariant[] {
  return SCHEDULE_KINDS.flatMap((kind) =>
    [false, true].map((zt) => ({
      label: zt ? `${kind} + ZT-SNR` : kind,
      kind,
      zeroTerminalSnr: zt,
      schedule: makeSchedule({ ...extra, kind, zeroTerminalSnr: zt }),
    })),
  );
}

export interface ZeroTerminalSnrEffect {
  kind: ScheduleKind;
  /** SNR at t = T before / after (after is 0 by construction) */
  terminalSnrBefore: number;
  terminalSnrAfter: number;
  /** sqrt(ᾱ_T) before: the share of x_0 left in x_T */
  terminalSignalBefore: number;
  /** ᾱ at mid-schedule (t = T/2) before / after */
  midAlphaBarBefore: number;
  midAlphaBarAfter: number;
  /** β_T after (1 by construction) */
  lastBetaAfter: number;
}

/** How much zero terminal SNR changes each schedule. */
export function zeroTerminalSnrEffects(timesteps = 1000): ZeroTerminalSnrEffect[] {
  return SCHEDULE_KINDS.map((kind) => {
    const a = makeSchedule({ kind, timesteps });
    const b = makeSchedule({ kind, timesteps, zeroTerminalSnr: true });
    const mid = Math.floor(timesteps / 2) - 1;
    return {
      kind,
      terminalSnrBefore: a.snr[timesteps - 1],
      terminalSnrAfter: b.snr[timesteps - 1],
      terminalSignalBefore: a.sqrtAlphasCumprod[timesteps - 1],
      midAlphaBarBefore: a.alphasCumprod[mid],
      midAlphaBarAfter: b.alphasCumprod[mid],
      lastBetaAfter: b.betas[timesteps - 1],
    };
  });
}
