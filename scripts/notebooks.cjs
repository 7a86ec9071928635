// `npm run notebooks`: registers the notebooks' kernel (scripts/install-kernel.cjs) and opens
// notebooks/ in JupyterLab where it is installed, else in the classic Notebook. Arguments after
// `--` go to Jupyter (e.g. `npm run notebooks -- --no-browser --port 8890`); `--dry-run` prints the
// command instead of running it.
// JupyterLab is not in Debian's archive: `apt-get install pipx && pipx install jupyterlab` (or
// `python3 -m pip install --user jupyterlab`, or conda) puts `jupyter-lab` on the PATH. Debian's
// classic Notebook is `apt-get install jupyter-notebook`.
const { spawn, spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { installKernel, KERNEL_NAME } = require("./install-kernel.cjs");

const root = path.resolve(__dirname, "..");
const args = process.argv.slice(2);
const dryRun = args.includes("--dry-run");
const passOn = args.filter((a) => a !== "--dry-run");

/** An executable of this name on the PATH, without npm's node_modules/.bin folders. */
function onPath(name) {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir || /node_modules[\\/]\.bin[\\/]?$/.test(dir)) continue;
    for (const ext of process.platform === "win32" ? [".exe", ".cmd", ""] : [""]) {
      const f = path.join(dir, name + ext);
      try {
        fs.accessSync(f, fs.constants.X_OK);
        if (fs.statSync(f).isFile()) return f;
      } catch {
        // not here: the next folder of the PATH
      }
    }
  }
  return undefined;
}

/** The first Python that can import `module`. */
function pythonWith(module) {
  const pythons = [process.env.JUPYTER_PYTHON, onPath("python3"), "/usr/bin/python3", onPath("python")];
  for (const py of pythons) {
    if (!py) continue;
    if (spawnSync(py, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0) return py;
  }
  return undefined;
}

/** The command that opens a folder: JupyterLab first, then the classic Notebook. */
function frontEnd() {
  const lab = onPath("jupyter-lab");
  if (lab) return { name: "JupyterLab", cmd: lab, args: [] };
  let py = pythonWith("jupyterlab");
  if (py) return { name: "JupyterLab", cmd: py, args: ["-m", "jupyterlab"] };
  const classic = onPath("jupyter-notebook");
  if (classic) return { name: "the classic Notebook", cmd: classic, args: [] };
  py = pythonWith("notebook");
  if (py) return { name: "the classic Notebook", cmd: py, args: ["-m", "notebook"] };
  return undefined;
}

if (!fs.existsSync(path.join(root, "dist", "lib", "index.js"))) {
  console.error("notebooks: dist/ is missing: run `npm install` (or `npm run build`) first");
  process.exit(1);
}
const ui = frontEnd();
if (!ui) {
  console.error(
    "notebooks: neither JupyterLab nor the classic Notebook is installed. JupyterLab: `pipx install jupyterlab`\n" +
      "(Debian: `apt-get install pipx` first) or `python3 -m pip install --user jupyterlab`; classic Notebook on\n" +
      "Debian: `apt-get install jupyter-notebook`.",
  );
  process.exit(1);
}
// Jupyter refuses to run as root without being told (containers often run as root)
const asRoot = typeof process.getuid === "function" && process.getuid() === 0 ? ["--allow-root"] : [];
const command = [ui.cmd, ...ui.args, ...asRoot, path.join(root, "notebooks"), ...passOn];
if (dryRun) {
  console.log(`${ui.name}: ${command.join(" ")}`);
  process.exit(0);
}
const kernelDir = installKernel();
console.log(`notebooks: kernel "${KERNEL_NAME}" in ${kernelDir}; opening notebooks/ in ${ui.name}`);
const child = spawn(command[0], command.slice(1), { cwd: root, stdio: "inherit" });
process.on("SIGINT", () => {}); // Jupyter asks to confirm its own shutdown on Ctrl-C
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
