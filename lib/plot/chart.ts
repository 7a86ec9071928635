/**
 * Line charts as one spec, two renderings: a static SVG (→ PNG with sharp, for figures and for
 * notebook viewers without JavaScript) and a plotly.js figure (interactive in the notebooks).
 * No browser is needed for either.
 */

export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** CSS colour; defaults to the palette by index */
  color?: string;
  dash?: boolean;
  /** "lines" (default) or "markers" (a scatter plot) */
  mode?: "lines" | "markers";
  /** listed in the legend (default true) */
  legend?: boolean;
}

export interface ChartSpec {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** log-scale y axis (values ≤ 0 or non-finite are left out of the line) */
  yLog?: boolean;
  /** fixed y range; on a log axis, in data units */
  yRange?: [number, number];
  /** fixed x range */
  xRange?: [number, number];
  series: Series[];
  width?: number;
  height?: number;
}

/** A colour-blind-safe palette (Okabe & Ito 2008), then greys. */
export const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#000000",
  "#888888",
  "#444444",
];

const colorOf = (s: Series, i: number) => s.color ?? PALETTE[i % PALETTE.length];

/** "Nice" linear ticks (1, 2, 5 × 10^k steps) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function yExtent(spec: ChartSpec): [number, number] {
  if (spec.yRange) return spec.yRange;
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of spec.series) {
    for (let i = 0; i < s.y.length; i++) {
      const v = s.y[i];
      if (!Number.isFinite(v) || (spec.yLog && v <= 0)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return spec.yLog ? [1e-3, 1] : [0, 1];
  if (spec.yLog) return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi))];
  const t = niceTicks(lo, hi);
  return [Math.min(lo, t[0]), Math.max(hi, t[t.length - 1])];
}

/** The chart as a standalone SVG document. */
export function lineChartSvg(spec: ChartSpec): string {
  const W = spec.width ?? 640;
  const H = spec.height ?? 400;
  const legendW = 190;
  const m = { l: 70, r: legendW + 10, t: spec.title ? 34 : 14, b: 48 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  let xlo = Infinity;
  let xhi = -Infinity;
  for (const s of spec.series) {
    for (let i = 0; i < s.x.length; i++) {
      xlo = Math.min(xlo, s.x[i]);
      xhi = Math.max(xhi, s.x[i]);
    }
  }
  if (!Number.isFinite(xlo)) [xlo, xhi] = [0, 1];
  if (spec.xRange) [xlo, xhi] = spec.xRange;
  if (xhi === xlo) xhi = xlo + 1;
  const [ylo, yhi] = yExtent(spec);
  const ty = (v: number) => (spec.yLog ? Math.log10(v) : v);
  const [tlo, thi] = [ty(ylo), ty(yhi) === ty(ylo) ? ty(ylo) + 1 : ty(yhi)];
  const X = (v: number) => m.l + ((v - xlo) / (xhi - xlo)) * pw;
  const Y = (v: number) => m.t + ph - ((ty(v) - tlo) / (thi - tlo)) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  if (spec.title)
    parts.push(
      `<text x="${m.l + pw / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(spec.title)}</text>`,
    );
  // grid and ticks
  const xt = niceTicks(xlo, xhi, 6);
  const yt = spec.yLog
    ? Array.from({ length: Math.round(thi - tlo) + 1 }, (_, k) => 10 ** (Math.round(tlo) + k)).filter(
        (_, k, a) => a.length <= 8 || k % Math.ceil(a.length / 8) === 0,
      )
    : niceTicks(ylo, yhi, 5);
  for (const v of xt) {
    if (v < xlo || v > xhi) continue;
    parts.push(`<line x1="${X(v)}" y1="${m.t}" x2="${X(v)}" y2="${m.t + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${X(v)}" y="${m.t + ph + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of yt) {
    if (ty(v) < tlo - 1e-9 || ty(v) > thi + 1e-9) continue;
    parts.push(`<line x1="${m.l}" y1="${Y(v)}" x2="${m.l + pw}" y2="${Y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 6}" y="${Y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  if (spec.xLabel)
    parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  if (spec.yLabel)
    parts.push(
      `<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
    );
  // lines, clipped to the plot area; a break wherever a value can't be drawn
  parts.push(`<clipPath id="plot"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath>`);
  spec.series.forEach((s, si) => {
    if (s.mode === "markers") {
      const dots: string[] = [];
      for (let i = 0; i < s.x.length; i++) {
        const v = s.y[i];
        if (!Number.isFinite(v) || !Number.isFinite(s.x[i]) || (spec.yLog && v <= 0)) continue;
        dots.push(`<circle cx="${X(s.x[i]).toFixed(1)}" cy="${Y(v).toFixed(1)}" r="1.6"/>`);
      }
      parts.push(`<g fill="${colorOf(s, si)}" fill-opacity="0.55" clip-path="url(#plot)">${dots.join("")}</g>`);
      return;
    }
    let d = "";
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const v = s.y[i];
      if (!Number.isFinite(v) || (spec.yLog && v <= 0)) {
        pen = false;
        continue;
      }
      d += `${pen ? "L" : "M"}${X(s.x[i]).toFixed(1)} ${Y(v).toFixed(1)}`;
      pen = true;
    }
    const dash = s.dash ? ` stroke-dasharray="6 4"` : "";
    parts.push(
      `<path d="${d}" fill="none" stroke="${colorOf(s, si)}" stroke-width="1.8"${dash} clip-path="url(#plot)"/>`,
    );
  });
  // legend
  let row = 0;
  spec.series.forEach((s, si) => {
    if (s.legend === false) return;
    const y = m.t + 10 + row++ * 18;
    const x = W - legendW;
    const dash = s.dash ? ` stroke-dasharray="6 4"` : "";
    if (s.mode === "markers") parts.push(`<circle cx="${x + 12}" cy="${y}" r="3" fill="${colorOf(s, si)}"/>`);
    else
      parts.push(
        `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${colorOf(s, si)}" stroke-width="2"${dash}/>`,
      );
    parts.push(`<text x="${x + 30}" y="${y + 4}" font-size="11">${esc(s.name)}</text>`);
  });
  parts.push(`</svg>`);
  return parts.join("\n");
}

/** A plotly.js figure of the same chart (every `stride`-th point, 6 significant digits, to keep notebooks small). */
export function plotlyFigure(spec: ChartSpec, stride = 1): { data: object[]; layout: object } {
  // lines are thinned to every `stride`-th point; scatter points are all kept
  const pick = (a: ArrayLike<number>, keepLast: boolean, step = stride) => {
    const out: (number | null)[] = [];
    for (let i = 0; i < a.length; i += step) out.push(Number.isFinite(a[i]) ? Number(a[i].toPrecision(4)) : null);
    if (keepLast && (a.length - 1) % step !== 0)
      out.push(Number.isFinite(a[a.length - 1]) ? Number(a[a.length - 1].toPrecision(4)) : null);
    return out;
  };
  return {
    data: spec.series.map((s, i) => ({
      type: "scatter",
      mode: s.mode ?? "lines",
      name: s.name,
      ...(s.legend === false ? { showlegend: false } : {}),
      x: pick(s.x, true, s.mode === "markers" ? 1 : stride),
      y: pick(s.y, true, s.mode === "markers" ? 1 : stride).map((v) => (spec.yLog && v !== null && v <= 0 ? null : v)),
      ...(s.mode === "markers"
        ? { marker: { color: colorOf(s, i), size: 3, opacity: 0.6 } }
        : { line: { color: colorOf(s, i), dash: s.dash ? "dash" : "solid" } }),
    })),
    layout: {
      title: spec.title ? { text: spec.title } : undefined,
      width: spec.width ?? 640,
      height: spec.height ?? 400,
      xaxis: {
        title: { text: spec.xLabel ?? "" },
        gridcolor: "#e5e5e5",
        ...(spec.xRange ? { range: spec.xRange } : {}),
      },
      yaxis: {
        title: { text: spec.yLabel ?? "" },
        type: spec.yLog ? "log" : "linear",
        gridcolor: "#e5e5e5",
        ...(spec.yRange ? { range: spec.yLog ? spec.yRange.map(Math.log10) : spec.yRange } : {}),
      },
      // the look of the static SVG (plotly.js has no named templates: "plotly_white" is plotly.py's)
      paper_bgcolor: "white",
      plot_bgcolor: "white",
    },
  };
}
