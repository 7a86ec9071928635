/**
 * paper-figures/schedules: β, ᾱ and SNR for every schedule, with and without zero terminal SNR, plus the
 * numbers: schedules.json (every 10th step and the ZT-SNR table) and one CSV per quantity under
 * schedules/ (every step, a column per schedule) for `dvc plots show`.
 */
import * as fs from "fs";
import * as path from "path";
import { allScheduleVariants, zeroTerminalSnrEffects } from "../schedules";
import { lineChartSvg } from "../plot/chart";
import { svgToPng } from "../plot/render";
import { scheduleChart, ScheduleField } from "../plot/schedules";
import { writeFileAtomic } from "../io/atomic";
import sharp from "sharp";

export interface SchedulesFigureOptions {
  out: string;
  timesteps: number;
}

/** The CSV columns' names for a schedule variant: `linear`, `linear_ztsnr`, ... */
export function variantColumn(v: { kind: string; zeroTerminalSnr: boolean }): string {
  return `${v.kind.replace(/-/g, "_")}${v.zeroTerminalSnr ? "_ztsnr" : ""}`;
}

/** The quantities written as CSV for DVC's plots, by file name. */
export const SCHEDULE_CSVS = { beta: "betas", alpha_bar: "alphasCumprod", snr: "snr" } as const;

/**
 * Writes schedules.png (three panels), schedules.json (the curves every 10th step and the ZT-SNR table)
 * and schedules/{beta,alpha_bar,snr}.csv (t from 1 to T, a column per schedule; numbers as JavaScript
 * prints them, which round-trip).
 */
export async function schedulesFigure(o: SchedulesFigureOptions): Promise<string[]> {
  fs.mkdirSync(o.out, { recursive: true });
  const variants = allScheduleVariants({ timesteps: o.timesteps });
  const fields: ScheduleField[] = ["betas", "alphasCumprod", "snr"];
  const panels = await Promise.all(
    fields.map((f) => svgToPng(lineChartSvg(scheduleChart(variants, f, { width: 720, height: 400 })))),
  );
  const metas = await Promise.all(panels.map((p) => sharp(p).metadata()));
  const W = Math.max(...metas.map((m) => m.width!));
  const H = metas.reduce((s, m) => s + m.height!, 0);
  const png = await sharp({ create: { width: W, height: H, channels: 3, background: "#ffffff" } })
    .composite(panels.map((p, i) => ({ input: p, left: 0, top: metas.slice(0, i).reduce((s, m) => s + m.height!, 0) })))
    .png({ compressionLevel: 9, palette: true, colours: 128, dither: 0 })
    .toBuffer();
  const pngFile = path.join(o.out, "schedules.png");
  writeFileAtomic(pngFile, png);
  const every = Math.max(1, Math.floor(o.timesteps / 100));
  const pick = (a: Float64Array) => Array.from(a).filter((_, i) => i % every === 0 || i === a.length - 1);
  const json = {
    timesteps: o.timesteps,
    t: pick(Float64Array.from({ length: o.timesteps }, (_, i) => i + 1)),
    curves: Object.fromEntries(
      variants.map((v) => [
        v.label,
        { betas: pick(v.schedule.betas), alphasCumprod: pick(v.schedule.alphasCumprod), snr: pick(v.schedule.snr) },
      ]),
    ),
    zeroTerminalSnr: zeroTerminalSnrEffects(o.timesteps),
  };
  const jsonFile = path.join(o.out, "schedules.json");
  writeFileAtomic(jsonFile, JSON.stringify(json) + "\n");
  const csvDir = path.join(o.out, "schedules");
  fs.mkdirSync(csvDir, { recursive: true });
  const csvFiles = Object.entries(SCHEDULE_CSVS).map(([name, field]) => {
    const header = ["t", ...variants.map(variantColumn)].join(",");
    const rows = Array.from({ length: o.timesteps }, (_, i) =>
      [i + 1, ...variants.map((v) => v.schedule[field][i])].join(","),
    );
    const file = path.join(csvDir, `${name}.csv`);
    writeFileAtomic(file, [header, ...rows].join("\n") + "\n");
    return file;
  });
  return [pngFile, jsonFile, ...csvFiles];
}
