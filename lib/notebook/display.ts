/**
 * Rich output for notebooks on the tslab kernel: charts (interactive plotly.js over a static PNG, see
 * plotly.ts), images, tables and the pipeline's figures. Outside a kernel the functions send nothing
 * (the bundle builders just return their bundles).
 */
import { ChartSpec, lineChartSvg, PALETTE, plotlyFigure } from "../plot/chart";
import { svgToPng } from "../plot/render";
import type { ImageHWC } from "../diffusion/visualize";
import { generateFace, renderFaceRgb } from "../data/faces";
import { toSigned } from "../data/images";
import { display, type MimeBundle } from "../runtime";
import { chartHtml, chartsInitialised, initCharts } from "./plotly";

/**
 * A chart as a display bundle: `text/html` (the interactive plotly figure drawn over the static PNG),
 * `image/png` (for viewers that show no HTML) and a text summary. Lines keep every `stride`-th point
 * in the interactive figure (default 10; the PNG has them all).
 */
export async function chartBundle(spec: ChartSpec, opts: { stride?: number } = {}): Promise<MimeBundle> {
  const png = await svgToPng(lineChartSvg(spec));
  const summary = `[chart: ${spec.title ?? ""} — ${spec.series.length} series]`;
  return {
    "text/html": chartHtml(plotlyFigure(spec, opts.stride ?? 10), png, { alt: summary }),
    "image/png": png.toString("base64"),
    "text/plain": summary,
  };
}

/** Shows a chart in the notebook (embedding plotly.js first if no cell of this kernel has). */
export async function showChart(spec: ChartSpec, opts: { stride?: number } = {}): Promise<void> {
  if (!chartsInitialised()) initCharts();
  display(await chartBundle(spec, opts));
}

/** Shows a PNG or JPEG image (the format is read from its first bytes), optionally drawn `width` pixels wide. */
export function showImage(bytes: Uint8Array, alt = "image", opts: { width?: number } = {}): void {
  const mime = bytes[0] === 0xff && bytes[1] === 0xd8 ? "image/jpeg" : "image/png";
  const bundle = { [mime]: Buffer.from(bytes).toString("base64"), "text/plain": `[${alt}]` };
  display(bundle, opts.width ? { [mime]: { width: opts.width } } : {});
}

/** Shows a table (array of records) as HTML with a plain-text twin. */
export function showTable(rows: Record<string, string | number>[], opts: { digits?: number } = {}): void {
  display(tableBundle(rows, opts));
}

/** A table as a display bundle. */
export function tableBundle(rows: Record<string, string | number>[], opts: { digits?: number } = {}): MimeBundle {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: string | number) => (typeof v === "number" ? formatNumber(v, opts.digits ?? 4) : v);
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const html =
    `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${cols.map((c) => `<td>${esc(String(cell(r[c])))}</td>`).join("")}</tr>`).join("") +
    `</tbody></table>`;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(cell(r[c])).length)));
  const text = [
    cols.map((c, i) => c.padEnd(widths[i])).join("  "),
    ...rows.map((r) => cols.map((c, i) => String(cell(r[c])).padEnd(widths[i])).join("  ")),
  ].join("\n");
  return { "text/html": html, "text/plain": text };
}

/** A number for a table: fixed for ordinary magnitudes, scientific for tiny/huge, exact 0 and ∞. */
export function formatNumber(v: number, digits = 4): string {
  if (v === 0) return "0";
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}

/** One face of the project's dataset as an image in [-1, 1] (HWC), for illustrations. */
export async function sampleFaceImage(seed: number, size = 64): Promise<ImageHWC> {
  const face = await generateFace(seed);
  const rgb = await renderFaceRgb(face, size);
  return { data: toSigned(rgb), height: size, width: size, channels: 3 };
}

/**
 * Shows a PNG written by the pipeline (paper-figures/…) at its own size, or scaled down to
 * `maxWidth` pixels; `jpeg` (a quality, 1–100) re-encodes it, which keeps a committed notebook small
 * for grids of generated images (diagrams and tables are best left PNG). A missing file is an error
 * that names the command that writes it.
 */
export async function showFigure(
  file: string,
  opts: { maxWidth?: number; alt?: string; jpeg?: number } = {},
): Promise<void> {
  const fs = await import("fs");
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run \`npm run repro\` (the pipeline writes paper-figures/ and metrics/)`);
  }
  const sharp = (await import("sharp")).default;
  const meta = await sharp(file).metadata();
  const width = Math.min(meta.width ?? 0, opts.maxWidth ?? Infinity);
  let img = sharp(file);
  if (width < (meta.width ?? 0)) img = img.resize({ width, kernel: "lanczos3" });
  const bytes =
    opts.jpeg !== undefined
      ? await img.flatten({ background: "#ffffff" }).jpeg({ quality: opts.jpeg }).toBuffer()
      : width < (meta.width ?? 0)
        ? await img.png({ compressionLevel: 9, palette: true }).toBuffer()
        : fs.readFileSync(file);
  showImage(bytes, opts.alt ?? file, { width });
}

/** Estimates with 95 % intervals as a chart: one marker per named estimate at x = its index, a vertical bar for its interval. */
export function estimateChartSpec(
  title: string,
  yLabel: string,
  items: { name: string; mean: number; ci95: [number, number] }[],
): ChartSpec {
  return {
    title,
    xLabel: "configuration (legend order)",
    yLabel,
    xRange: [-0.5, items.length - 0.5],
    // every interval inside the frame, with a margin
    yRange: (() => {
      const lo = Math.min(...items.map((it) => it.ci95[0]));
      const hi = Math.max(...items.map((it) => it.ci95[1]));
      const pad = 0.08 * (hi - lo || 1);
      return [lo - pad, hi + pad] as [number, number];
    })(),
    series: items.flatMap((it, i) => [
      {
        name: `${i}: ${it.name}`,
        x: [i, i],
        y: [it.ci95[0], it.ci95[1]],
        mode: "lines" as const,
        color: PALETTE[i % PALETTE.length],
      },
      {
        name: it.name,
        x: [i],
        y: [it.mean],
        mode: "markers" as const,
        color: PALETTE[i % PALETTE.length],
        legend: false,
      },
    ]),
  };
}

/** Shows Markdown text (rendered by every notebook front end), with itself as the plain-text twin. */
export function showMarkdown(markdown: string): void {
  display({ "text/markdown": markdown, "text/plain": markdown });
}
