// Executes every notebook in notebooks/ headless through Jupyter's nbconvert on the notebooks' own
// kernel ("improved-dreambooth", registered first by scripts/install-kernel.cjs), into .nb-out/, the
// way a user's shell would: npm's node_modules/.bin and npm_* variables are taken out of the
// environment, so a kernel that only starts under `npm run` fails here. Then it checks the executed
// copies: no error output; code lines of at most 120 columns; every cell tagged "plot" shows an
// image (and "interactive" cells an interactive chart); every cell tagged "table" shows a table; and
// the outputs equal the committed ones (notebook outputs are deterministic), except in cells tagged
// "varies". The output that carries plotly.js (lib/notebook/plotly.ts) is left out of the committed
// notebooks and of the comparison: 4.8 MB per notebook that the first run of its cell puts back.
// Code cells are numbered 1, 2, … as a run from the top numbers them (nbconvert leaves the numbers
// empty with tslab, which announces no execute_input). `--update` writes the executed outputs back
// into notebooks/ (to commit them).
// Needs Debian's Jupyter (jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel)
// and `npm run build` first (notebooks import the built library by package name).
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const PY = process.env.JUPYTER_PYTHON || "/usr/bin/python3";
const update = process.argv.includes("--update");
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const outDir = path.join(root, ".nb-out");

function fail(msg) {
  console.error(`notebooks: ${msg}`);
  process.exit(1);
}

const probe = spawnSync(PY, ["-c", "import nbclient, nbconvert, ipykernel"], { encoding: "utf8" });
if (probe.status !== 0) {
  fail(
    `${PY} cannot import nbclient/nbconvert/ipykernel. Install Debian's Jupyter:\n` +
      `  apt-get install -y jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel`,
  );
}
if (!fs.existsSync(path.join(root, "dist", "lib", "index.js"))) fail("dist/ is missing: run `npm run build` first");
const { KERNEL_NAME, installKernel } = require("./install-kernel.cjs");
const { PLOTLY_LIBRARY_KEY } = require("../dist/lib/notebook/plotly.js");
installKernel();
// a plain shell's environment: no node_modules/.bin on the PATH, no npm_* variables; and the wasm kernels'
// bytes, the same on every machine, for the committed outputs: the oneDNN kernels' (lib/kernels/native)
// depend on the CPU's instruction set and the thread count, so they stay off here
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
env.DREAMBOOTH_NATIVE = "0";
env.PATH = (process.env.PATH || "")
  .split(path.delimiter)
  .filter((p) => !/node_modules[\\/]\.bin[\\/]?$/.test(p))
  .join(path.delimiter);

const nbDir = path.join(root, "notebooks");
const books = fs
  .readdirSync(nbDir)
  .filter((f) => f.endsWith(".ipynb") && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
if (books.length === 0) fail("no notebooks found");
fs.mkdirSync(outDir, { recursive: true });

const tags = (cell) => (cell.metadata && cell.metadata.tags) || [];
const text = (x) => (Array.isArray(x) ? x.join("") : (x ?? ""));
const isLibrary = (o) => Boolean(o.metadata && o.metadata[PLOTLY_LIBRARY_KEY]);
const isChart = (o) => Boolean(o.data && /class="idb-chart"/.test(text(o.data["text/html"])));
function comparable(o) {
  if (o.output_type === "stream") return { t: "stream", name: o.name, text: text(o.text) };
  if (o.output_type === "error") return { t: "error" };
  return {
    t: o.output_type,
    data: Object.fromEntries(
      Object.entries(o.data || {}).map(([k, v]) => [k, typeof v === "string" || Array.isArray(v) ? text(v) : v]),
    ),
  };
}

let failed = 0;
let passed = 0;
for (const book of books) {
  const t0 = Date.now();
  const r = spawnSync(
    PY,
    [
      "-m",
      "nbconvert",
      "--to",
      "notebook",
      "--execute",
      "--ExecutePreprocessor.timeout=900",
      `--output-dir=${outDir}`,
      path.join(nbDir, book),
    ],
    { cwd: nbDir, env, encoding: "utf8" },
  );
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const problems = [];
  if (r.status !== 0)
    problems.push(`nbconvert exited ${r.status}:\n${(r.stderr || "").split("\n").slice(-25).join("\n")}`);
  else {
    const src = JSON.parse(fs.readFileSync(path.join(nbDir, book), "utf8"));
    const out = JSON.parse(fs.readFileSync(path.join(outDir, book), "utf8"));
    const kernel = out.metadata.kernelspec && out.metadata.kernelspec.name;
    if (kernel !== KERNEL_NAME) problems.push(`its kernel is "${kernel}", not "${KERNEL_NAME}"`);
    let count = 0;
    let libraries = 0;
    let chartsBefore = 0;
    out.cells.forEach((cell, i) => {
      if (cell.cell_type !== "code") return;
      cell.execution_count = ++count;
      const outs = cell.outputs || [];
      const where = `cell ${i + 1}${cell.id ? ` (${cell.id})` : ""}`;
      for (const o of outs) if (o.output_type === "error") problems.push(`${where}: ${o.ename}: ${o.evalue}`);
      for (const o of outs) {
        if (o.output_type === "stream" && o.name === "stderr")
          problems.push(`${where} writes to stderr: ${text(o.text).trim()}`);
      }
      text(cell.source)
        .split("\n")
        .forEach((l, k) => {
          if (l.length > 120) problems.push(`${where}, line ${k + 1}: ${l.length} columns (at most 120)`);
        });
      for (const o of outs) {
        if (isLibrary(o)) libraries++;
        else if (isChart(o) && libraries === 0) chartsBefore++;
      }
      const has = (mime) => outs.some((o) => o.data && o.data[mime]);
      const tagged = (t) => tags(cell).includes(t);
      if (tagged("plot") && !has("image/png") && !has("image/jpeg"))
        problems.push(`${where} is tagged plot but shows no image`);
      if (tagged("interactive") && !outs.some(isChart))
        problems.push(`${where} is tagged interactive but has no chart`);
      if (tagged("table") && !has("text/html")) problems.push(`${where} is tagged table but shows no table`);
      if (!update && !tags(cell).includes("varies")) {
        const a = JSON.stringify((src.cells[i].outputs || []).map(comparable));
        const b = JSON.stringify(outs.filter((o) => !isLibrary(o)).map(comparable));
        if (a !== b)
          problems.push(
            `${where}: outputs differ from the committed notebook (not deterministic, or not re-run with --update)`,
          );
      }
    });
    const charts = out.cells.flatMap((c) => c.outputs || []).filter(isChart).length;
    if (charts && libraries !== 1) {
      problems.push(`${charts} charts but plotly.js is embedded ${libraries} times (once, before the first chart)`);
    }
    if (chartsBefore) problems.push(`${chartsBefore} charts come before the output that embeds plotly.js`);
    // nbclient's per-cell timestamps change on every run: keep them out of the notebooks
    for (const cell of out.cells) if (cell.metadata) delete cell.metadata.execution;
    fs.writeFileSync(path.join(outDir, book), JSON.stringify(out, null, 1) + "\n");
    if (update && problems.length === 0) {
      for (const cell of out.cells) {
        if (cell.cell_type !== "code") continue;
        cell.outputs = (cell.outputs || []).filter((o) => !isLibrary(o));
        for (const o of cell.outputs) if (o.metadata && !Object.keys(o.metadata).length) o.metadata = {};
      }
      fs.writeFileSync(path.join(nbDir, book), JSON.stringify(out, null, 1) + "\n");
    }
  }
  if (problems.length) {
    failed++;
    console.log(`✖ ${book} (${secs} s)\n  ${problems.join("\n  ")}`);
  } else {
    passed++;
    console.log(`✔ ${book} (${secs} s)${update ? " — outputs written back" : ""}`);
  }
}
console.log(`notebooks: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
