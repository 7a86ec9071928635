// The notebooks' charts in a real browser: exports each executed notebook in .nb-out/ (written by
// `npm run test:notebooks`) to HTML with Jupyter's nbconvert, opens the page in headless Chromium
// (Debian's `chromium`, driven by playwright-core; no browser is downloaded) and checks that every
// chart was drawn by plotly.js with all its traces, and that no script failed.
// The page loads nothing from the network: what nbconvert's template links from CDNs (require.js,
// MathJax) is refused, as it would be offline; the charts must not need it.
// Chromium missing is a failure, not a skip: set CHROMIUM to its path if it is not in a usual place.
const { spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const root = path.resolve(__dirname, "..");
const outDir = path.join(root, ".nb-out");
const PY = process.env.JUPYTER_PYTHON || "/usr/bin/python3";
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));

function fail(msg) {
  console.error(`notebook pages: ${msg}`);
  process.exit(1);
}

const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const chromium = candidates.find((c) => c && fs.existsSync(c));
if (!chromium) fail("Chromium not found: apt-get install chromium (Debian's), or set CHROMIUM to its path");
if (!fs.existsSync(outDir)) fail(".nb-out/ is missing: run `npm run test:notebooks` first (it executes the notebooks)");
const books = fs
  .readdirSync(outDir)
  .filter((f) => f.endsWith(".ipynb") && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
if (books.length === 0) fail("no executed notebooks in .nb-out/: run `npm run test:notebooks` first");

/** Charts a notebook holds: outputs whose HTML is a chart box (lib/notebook/plotly.ts). */
function chartsIn(nb) {
  const text = (x) => (Array.isArray(x) ? x.join("") : (x ?? ""));
  let n = 0;
  for (const cell of nb.cells) {
    for (const o of cell.outputs || []) if (o.data && /class="idb-chart"/.test(text(o.data["text/html"]))) n++;
  }
  return n;
}

async function main() {
  const { chromium: driver } = require("playwright-core");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "nb-chromium-"));
  const context = await driver.launchPersistentContext(profile, {
    executablePath: chromium,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  let failed = 0;
  try {
    await context.route("**/*", (r) => (r.request().url().startsWith("file:") ? r.continue() : r.abort()));
    for (const book of books) {
      const t0 = Date.now();
      const problems = [];
      const nb = JSON.parse(fs.readFileSync(path.join(outDir, book), "utf8"));
      const expected = chartsIn(nb);
      const args = ["-m", "nbconvert", "--to", "html", `--output-dir=${outDir}`, path.join(outDir, book)];
      const r = spawnSync(PY, args, { encoding: "utf8" });
      const tail = (r.stderr || "").split("\n").slice(-5).join(" ");
      if (r.status !== 0) problems.push(`nbconvert --to html exited ${r.status}: ${tail}`);
      else {
        const page = await context.newPage();
        const errors = [];
        page.on("pageerror", (e) => errors.push(`script error: ${e.message}`));
        page.on("console", (m) => {
          // a refused CDN request is logged as an error; it is the offline page, not a fault of the charts
          if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
            errors.push(`console error: ${m.text()}`);
          }
        });
        const html = path.join(outDir, book.replace(/\.ipynb$/, ".html"));
        await page.goto("file://" + html, { waitUntil: "load" });
        // runs in the page, where `document` is the exported notebook
        const charts = await page.evaluate(() =>
          // eslint-disable-next-line no-undef
          Array.from(document.querySelectorAll(".idb-chart")).map((el) => ({
            id: el.id,
            traces: Number(el.getAttribute("data-traces")),
            drawn: el.classList.contains("js-plotly-plot"),
            data: Array.isArray(el.data) ? el.data.length : -1,
            svgTraces: el.querySelectorAll(".scatterlayer .trace").length,
            staticLeft: el.querySelectorAll("img").length,
          })),
        );
        problems.push(...errors);
        if (charts.length !== expected) {
          problems.push(`${charts.length} chart boxes in the page, ${expected} chart outputs in the notebook`);
        }
        for (const c of charts) {
          if (!c.drawn) problems.push(`${c.id}: not drawn by plotly.js (the static image is still there)`);
          else if (c.data !== c.traces || c.svgTraces !== c.traces) {
            problems.push(`${c.id}: ${c.traces} traces in the figure, ${c.data} in the plot, ${c.svgTraces} drawn`);
          }
          if (c.drawn && c.staticLeft) problems.push(`${c.id}: the static image was not replaced`);
        }
        await page.close();
        const secs = ((Date.now() - t0) / 1000).toFixed(1);
        if (!problems.length) console.log(`✔ ${book}: ${charts.length} charts drawn, no script error (${secs} s)`);
      }
      if (problems.length) {
        failed++;
        console.log(`✖ ${book}\n  ${problems.join("\n  ")}`);
      }
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(`notebook pages: ${books.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => fail(e.stack || String(e)));
