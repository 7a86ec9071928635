import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
  chartBundle,
  display,
  inNotebook,
  initCharts,
  plotlyLibraryBundle,
  PLOTLY_LIBRARY_KEY,
  scriptJson,
  sourceOf,
} from ".";
import { projectRoot } from "./source";

const spec = {
  title: "a </script> title",
  series: [
    { name: "a", x: [1, 2, 3], y: [1, 4, 9] },
    { name: "b", x: [1, 2], y: [2, 3] },
  ],
};

test("outside a kernel nothing is displayed", () => {
  assert.equal(inNotebook(), false);
  assert.equal(display({ "text/plain": "x" }), false);
  assert.doesNotThrow(() => initCharts());
});

test("a chart is HTML that draws the plotly figure over its PNG, plus the PNG itself", async () => {
  const b = await chartBundle(spec, { stride: 1 });
  const html = String(b["text/html"]);
  const png = String(b["image/png"]);
  assert.ok(png.length > 1000);
  // the static fallback inside the HTML is the same PNG
  assert.ok(html.includes(`src="data:image/png;base64,${png}"`));
  assert.match(html, /<div class="idb-chart" id="idb-chart-[0-9a-f]{8}-\d+" data-traces="2"/);
  assert.match(html, /Plotly\.newPlot\(el, figure\.data, figure\.layout/);
  // the title's "</script>" cannot end the script early: exactly one closing tag, the script's own
  assert.equal(html.split("</script").length - 1, 1);
  const json = /var figure = (.*);\n/.exec(html)![1];
  const figure = JSON.parse(json) as { data: { name: string; y: number[] }[]; layout: { title: { text: string } } };
  assert.deepEqual(
    figure.data.map((d) => d.name),
    ["a", "b"],
  );
  assert.deepEqual(figure.data[0].y, [1, 4, 9]);
  assert.equal(figure.layout.title.text, spec.title);
  // two charts of the same figure get different ids (a page may show both)
  const again = String((await chartBundle(spec))["text/html"]);
  assert.notEqual(/id="([^"]+)"/.exec(html)![1], /id="([^"]+)"/.exec(again)![1]);
});

test("scriptJson keeps JSON parseable and free of '<' and line separators", () => {
  const v = { s: "</script><!-- \u2028 \u2029 <b>" };
  const j = scriptJson(v);
  assert.ok(!/[<\u2028\u2029]/.test(j));
  assert.deepEqual(JSON.parse(j), v);
});

test("the plotly.js output is one inline script holding the bundle, marked with its version", () => {
  const { data, metadata } = plotlyLibraryBundle();
  const html = String(data["text/html"]);
  const pkg = JSON.parse(fs.readFileSync(require.resolve("plotly.js-dist-min/package.json"), "utf8"));
  assert.equal(metadata[PLOTLY_LIBRARY_KEY], pkg.version);
  assert.ok(html.startsWith('<script type="text/javascript">') && html.endsWith("</script>"));
  assert.equal(html.split("</script").length - 1, 1);
  assert.ok(html.length > 1e6, `${html.length} characters`);
  assert.match(html, /function \(define, module, exports\)/);
});

test("sourceOf returns a declaration with its doc comment, as written in lib/", () => {
  const src = sourceOf("schedules/zero-terminal-snr.ts", "enforceZeroTerminalSnr");
  const file = fs.readFileSync(path.join(projectRoot(), "lib/schedules/zero-terminal-snr.ts"), "utf8");
  assert.ok(file.includes(src));
  assert.ok(src.startsWith("/**"));
  assert.match(src, /\nexport function enforceZeroTerminalSnr\(/);
  assert.ok(src.endsWith("\n}"));
  assert.throws(() => sourceOf("schedules/zero-terminal-snr.ts", "nope"), /no top-level declaration of nope in lib\//);
  assert.throws(() => sourceOf("nope.ts", "x"), /lib\/nope.ts does not exist/);
});
