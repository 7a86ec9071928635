/**
 * A forest plot as SVG: panels of rows, each row a point estimate with its 95 % interval on the panel's
 * own axis, and a line at zero. Rows whose interval leaves out zero are drawn in colour, the rest grey.
 */
import { niceTicks, PALETTE } from "./chart";

export interface ForestRow {
  label: string;
  mean: number;
  ci95: [number, number];
  /** drawn bold: the row a claim rests on */
  emphasis?: boolean;
}

export interface ForestPanel {
  title: string;
  rows: ForestRow[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (x: number) =>
  Math.abs(x) < 1e-12 ? "0" : Math.abs(x) >= 10 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(1) : x.toPrecision(2);

/** The SVG of stacked panels; `title` above them all. */
export function forestSvg(title: string, panels: ForestPanel[], opts: { width?: number; note?: string } = {}): string {
  const width = opts.width ?? 900;
  const labelW = 330;
  const plotL = labelW + 10;
  const plotR = width - 30;
  const rowH = 22;
  const panelHead = 34;
  const axisH = 24;
  let y = 46;
  const parts: string[] = [];
  for (const p of panels) {
    const lo = Math.min(0, ...p.rows.map((r) => r.ci95[0]));
    const hi = Math.max(0, ...p.rows.map((r) => r.ci95[1]));
    const pad = (hi - lo) * 0.05 || 1e-3;
    const ticks = niceTicks(lo - pad, hi + pad, 6);
    const x0 = Math.min(ticks[0], lo - pad);
    const x1 = Math.max(ticks[ticks.length - 1], hi + pad);
    const sx = (v: number) => plotL + ((v - x0) / (x1 - x0)) * (plotR - plotL);
    parts.push(`<text x="10" y="${y + 20}" font-size="15" font-weight="bold">${esc(p.title)}</text>`);
    const top = y + panelHead;
    const bottom = top + p.rows.length * rowH;
    for (const t of ticks) {
      parts.push(
        `<line x1="${sx(t).toFixed(1)}" y1="${top - 4}" x2="${sx(t).toFixed(1)}" y2="${bottom}" stroke="#eeeeee"/>`,
      );
      parts.push(
        `<text x="${sx(t).toFixed(1)}" y="${bottom + 16}" font-size="11" text-anchor="middle" fill="#555555">${fmt(t)}</text>`,
      );
    }
    parts.push(
      `<line x1="${sx(0).toFixed(1)}" y1="${top - 4}" x2="${sx(0).toFixed(1)}" y2="${bottom}" stroke="#000000" stroke-dasharray="3,3"/>`,
    );
    p.rows.forEach((r, i) => {
      const cy = top + i * rowH + rowH / 2;
      const resolved = r.ci95[0] > 0 || r.ci95[1] < 0;
      const c = resolved ? PALETTE[0] : "#888888";
      const weight = r.emphasis ? ' font-weight="bold"' : "";
      parts.push(`<text x="10" y="${cy + 4}" font-size="12"${weight}>${esc(r.label)}</text>`);
      parts.push(
        `<line x1="${sx(r.ci95[0]).toFixed(1)}" y1="${cy}" x2="${sx(r.ci95[1]).toFixed(1)}" y2="${cy}" stroke="${c}" stroke-width="2"/>`,
      );
      parts.push(`<circle cx="${sx(r.mean).toFixed(1)}" cy="${cy}" r="4" fill="${c}"/>`);
    });
    y = bottom + axisH;
  }
  const height = y + (opts.note ? 28 : 10);
  const note = opts.note
    ? `<text x="10" y="${height - 10}" font-size="11" fill="#555555">${esc(opts.note)}</text>`
    : "";
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">` +
    `<rect width="100%" height="100%" fill="#ffffff"/>` +
    `<text x="10" y="28" font-size="18" font-weight="bold">${esc(title)}</text>${parts.join("")}${note}</svg>`
  );
}
