// Executes every notebook in notebooks/ headless through Jupyter with the tslab kernel, into
// .nb-out/, and checks the executed copies: no error output; every cell tagged "plot" shows a PNG
// (and "interactive" cells also a plotly figure); every cell tagged "table" shows a table; and the
// outputs equal the committed ones (notebook outputs are deterministic), except in cells tagged
// "varies". `--update` writes the executed outputs back into notebooks/ (to commit them).
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
const bin = path.join(root, "node_modules", ".bin");
// The committed outputs are the wasm kernels' bytes, the same on every machine; the oneDNN kernels'
// (lib/kernels/native) depend on the CPU's instruction set and the thread count, so they stay off here.
const env = { ...process.env, DREAMBOOTH_NATIVE: "0", PATH: `${bin}${path.delimiter}${process.env.PATH}` };
const specs = spawnSync(PY, ["-m", "jupyter_client.kernelspecapp", "list", "--json"], { encoding: "utf8", env });
if (!/"tslab"/.test(specs.stdout || "")) {
  console.log("notebooks: registering the tslab kernel");
  const r = spawnSync(path.join(bin, "tslab"), ["install", `--python=${PY}`], { stdio: "inherit", env });
  if (r.status !== 0) fail("`tslab install` failed");
}

const nbDir = path.join(root, "notebooks");
const books = fs
  .readdirSync(nbDir)
  .filter((f) => f.endsWith(".ipynb") && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
if (books.length === 0) fail("no notebooks found");
fs.mkdirSync(outDir, { recursive: true });

const tags = (cell) => (cell.metadata && cell.metadata.tags) || [];
const text = (x) => (Array.isArray(x) ? x.join("") : x ?? "");
function comparable(o) {
  if (o.output_type === "stream") return { t: "stream", name: o.name, text: text(o.text) };
  if (o.output_type === "error") return { t: "error" };
  return { t: o.output_type, data: Object.fromEntries(Object.entries(o.data || {}).map(([k, v]) => [k, typeof v === "string" || Array.isArray(v) ? text(v) : v])) };
}

let failed = 0;
let passed = 0;
for (const book of books) {
  const t0 = Date.now();
  const r = spawnSync(
    PY,
    ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=tslab",
      "--ExecutePreprocessor.timeout=900", `--output-dir=${outDir}`, path.join(nbDir, book)],
    { cwd: nbDir, env, encoding: "utf8" },
  );
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const problems = [];
  if (r.status !== 0) problems.push(`nbconvert exited ${r.status}:\n${(r.stderr || "").split("\n").slice(-25).join("\n")}`);
  else {
    const src = JSON.parse(fs.readFileSync(path.join(nbDir, book), "utf8"));
    const out = JSON.parse(fs.readFileSync(path.join(outDir, book), "utf8"));
    out.cells.forEach((cell, i) => {
      if (cell.cell_type !== "code") return;
      const outs = cell.outputs || [];
      const where = `cell ${i + 1}${cell.id ? ` (${cell.id})` : ""}`;
      for (const o of outs) if (o.output_type === "error") problems.push(`${where}: ${o.ename}: ${o.evalue}`);
      const has = (mime) => outs.some((o) => o.data && o.data[mime]);
      if (tags(cell).includes("plot") && !has("image/png") && !has("image/jpeg")) problems.push(`${where} is tagged plot but shows no image`);
      if (tags(cell).includes("interactive") && !has("application/vnd.plotly.v1+json")) problems.push(`${where} is tagged interactive but has no plotly figure`);
      if (tags(cell).includes("table") && !has("text/html")) problems.push(`${where} is tagged table but shows no table`);
      if (!update && !tags(cell).includes("varies")) {
        const a = JSON.stringify((src.cells[i].outputs || []).map(comparable));
        const b = JSON.stringify(outs.map(comparable));
        if (a !== b) problems.push(`${where}: outputs differ from the committed notebook (not deterministic, or not re-run with --update)`);
      }
    });
    if (update && problems.length === 0) {
      for (const cell of out.cells) if (cell.cell_type === "code") for (const o of cell.outputs || []) if (o.metadata && !Object.keys(o.metadata).length) o.metadata = {};
      // nbclient's per-cell timestamps change on every run: keep them out of the committed notebooks
      for (const cell of out.cells) if (cell.metadata) delete cell.metadata.execution;
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
