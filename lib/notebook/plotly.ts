/**
 * Interactive charts through plotly.js (the `plotly.js-dist-min` bundle), with no Jupyter extension:
 * the library travels in one notebook output as an inline script (as plotly's own offline
 * `init_notebook_mode` does), and each chart is a `text/html` output whose script draws the figure
 * over a static PNG of the same chart. Where scripts do not run (an untrusted notebook, a viewer
 * without JavaScript) the PNG is what shows; where they run (JupyterLab and classic Notebook after
 * the cells ran, VS Code, an nbconvert HTML export) the chart becomes interactive.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import { display, type MimeBundle } from "../runtime";

/** Output metadata key of the display output that carries plotly.js (its value: the version). */
export const PLOTLY_LIBRARY_KEY = "improved-dreambooth/plotly.js";

/** The page-global queue of charts drawn before the library arrived (an array, then a drawing stub). */
const QUEUE = "__idbPlotly";

let library: { version: string; source: string } | undefined;

/** plotly.js's minified bundle and version, read once from node_modules. */
export function plotlyLibrary(): { version: string; source: string } {
  if (!library) {
    const read = (file: string) => fs.readFileSync(require.resolve(`plotly.js-dist-min/${file}`), "utf8");
    const version = (JSON.parse(read("package.json")) as { version: string }).version;
    // an inline <script> ends at the first "</script" anywhere in it; "<\/" is the same text in a JS string or regex
    const source = read("plotly.min.js").replace(/<\/(script)/gi, "<\\/$1");
    library = { version, source };
  }
  return library;
}

/**
 * The display output that loads plotly.js into the page: one inline script, no network and no
 * require.js. The bundle is run with `define`, `module` and `exports` hidden so that it sets
 * `window.Plotly` in every host (classic Notebook has require.js, which would otherwise claim it);
 * then the charts queued before it are drawn.
 */
export function plotlyLibraryBundle(): { data: MimeBundle; metadata: Record<string, string> } {
  const { version, source } = plotlyLibrary();
  const html = [
    `<script type="text/javascript">`,
    `/* plotly.js ${version} (MIT license, Plotly, Inc.), embedded once per notebook for its interactive charts */`,
    `(function () {`,
    `  window.PlotlyConfig = window.PlotlyConfig || { MathJaxConfig: "local" };`,
    `  if (!window.Plotly) (function (define, module, exports) {`,
    source,
    `  }).call(window);`,
    `  var queued = window.${QUEUE};`,
    `  window.${QUEUE} = { push: function (draw) { draw(window.Plotly); } };`,
    `  if (queued && queued.length) for (var i = 0; i < queued.length; i++) queued[i](window.Plotly);`,
    `})();`,
    `</script>`,
  ].join("\n");
  return {
    data: { "text/html": html, "text/plain": `[plotly.js ${version} for the interactive charts]` },
    metadata: { [PLOTLY_LIBRARY_KEY]: version },
  };
}

let librarySent = false;

/**
 * Embeds plotly.js in the output of the cell that calls it, so that the charts below it are
 * interactive (about 4.8 MB, once per notebook: call it in the first cell). `showChart` calls it
 * itself if no cell has yet in this kernel. Outside a kernel it does nothing.
 */
export function initCharts(): void {
  const { data, metadata } = plotlyLibraryBundle();
  if (display(data, metadata)) librarySent = true;
}

/** Whether `initCharts` has sent the library in this kernel. */
export function chartsInitialised(): boolean {
  return librarySent;
}

/** JSON that is safe inside an inline <script>: no "<" (so no "</script>" or "<!--"), no line separators. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const escAttr = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

let chartCount = 0;

/**
 * A chart as HTML: a box holding the static PNG, and a script that replaces the PNG with the
 * interactive plotly figure when plotly.js is in the page (now, or when its output renders later).
 * Ids are the figure's hash plus a counter, so a run from the top gives the same HTML every time.
 */
export function chartHtml(
  figure: { data: object[]; layout: { width?: number; height?: number } },
  png: Buffer,
  o: { alt: string },
): string {
  const json = scriptJson(figure);
  const id = `idb-chart-${crypto.createHash("md5").update(json).digest("hex").slice(0, 8)}-${++chartCount}`;
  const w = figure.layout.width ?? 640;
  const h = figure.layout.height ?? 400;
  return [
    `<div class="idb-chart" id="${id}" data-traces="${figure.data.length}"`,
    ` style="width:${w}px;height:${h}px;max-width:100%">`,
    `<img alt="${escAttr(o.alt)}" width="${w}" height="${h}" src="data:image/png;base64,${png.toString("base64")}">`,
    `</div>`,
    `<script type="text/javascript">`,
    `(function () {`,
    `  var figure = ${json};`,
    `  function draw(Plotly) {`,
    `    var el = document.getElementById("${id}");`,
    `    if (!el || !Plotly) return;`,
    `    var still = el.innerHTML;`,
    `    el.innerHTML = "";`,
    `    try {`,
    `      Plotly.newPlot(el, figure.data, figure.layout, { displaylogo: false });`,
    `    } catch (e) {`,
    `      el.innerHTML = still;`,
    `      throw e;`,
    `    }`,
    `  }`,
    `  if (window.Plotly) draw(window.Plotly);`,
    `  else (window.${QUEUE} = window.${QUEUE} || []).push(draw);`,
    `})();`,
    `</script>`,
  ].join("\n");
}
