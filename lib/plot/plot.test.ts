import { test } from "node:test";
import assert from "node:assert/strict";
import sharp from "sharp";
import { lineChartSvg, niceTicks, plotlyFigure } from "./chart";
import { imageGrid, svgToPng, toBytes } from "./render";
import { chartBundle, formatNumber, tableBundle } from "../notebook";
import { scheduleChart } from "./schedules";
import { allScheduleVariants } from "../schedules";

const spec = { title: "t", yLog: true, series: [{ name: "a", x: [1, 2, 3, 4], y: [1, 0.1, 0, 0.001] }] };

test("niceTicks uses 1-2-5 steps", () => {
  assert.deepEqual(niceTicks(0, 1000, 5), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(niceTicks(0.1, 0.9, 4), [0.2, 0.4, 0.6, 0.8]);
});

test("a log chart breaks its line at zero instead of drawing -Infinity", () => {
  const svg = lineChartSvg(spec);
  const d = /<path d="([^"]+)"/.exec(svg)![1];
  assert.equal((d.match(/M/g) ?? []).length, 2, d);
  assert.ok(!/NaN|Infinity/.test(svg));
  const fig = plotlyFigure(spec) as { data: { y: (number | null)[] }[] };
  assert.deepEqual(fig.data[0].y, [1, 0.1, null, 0.001]);
});

test("charts, grids and tables render to deterministic PNG / HTML", async () => {
  const a = await svgToPng(lineChartSvg(spec));
  const b = await svgToPng(lineChartSvg(spec));
  assert.ok(a.equals(b));
  assert.equal((await sharp(a).metadata()).width, 640);
  const bundle = await chartBundle(spec);
  assert.ok(typeof bundle["image/png"] === "string" && String(bundle["text/html"]).includes("Plotly.newPlot"));
  const px = toBytes([-1, 0, 1, 2]);
  assert.deepEqual(Array.from(px), [0, 128, 255, 255]);
  const grid = await imageGrid([[{ pixels: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4, channels: 3 }]], {
    colLabels: ["x"],
    rowLabels: ["r"],
    scale: 2,
  });
  assert.equal((await sharp(grid).metadata()).format, "png");
  const t = tableBundle([{ kind: "linear", snr: 4.0358e-5 }]);
  assert.match(String(t["text/html"]), /<td>linear<\/td><td>4.036e-5<\/td>/);
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(0.5), "0.5");
});

test("a schedule chart over a range of timesteps holds exactly those steps", () => {
  const variants = allScheduleVariants().slice(0, 2);
  const spec = scheduleChart(variants, "sqrtAlphasCumprod", { tRange: [900, 1000] });
  const [plain, zt] = spec.series;
  assert.equal(plain.x.length, 101);
  assert.equal(plain.x[0], 900);
  assert.equal(plain.x[100], 1000);
  assert.equal(plain.y[100], variants[0].schedule.sqrtAlphasCumprod[999]);
  assert.equal(zt.y[100], 0);
  assert.equal(scheduleChart(variants, "betas").series[0].x.length, 1000);
  assert.throws(() => scheduleChart(variants, "snr", { tRange: [0, 10] }), /1 ≤ from ≤ to ≤ 1000/);
});
