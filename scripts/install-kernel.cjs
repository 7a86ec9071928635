// Registers the notebooks' Jupyter kernel, "improved-dreambooth" (TypeScript on tslab), for the
// current user. `npm install` runs it (postinstall); `npm run kernel` runs it again, e.g. after
// moving the clone or switching Node versions.
//
// Why not `npx tslab install`: it registers the bare command `tslab`, which only npm's scripts
// have on their PATH (node_modules/.bin), so Jupyter started from an ordinary shell fails with
// FileNotFoundError: 'tslab'. The kernel registered here starts with the absolute path of the
// Node that ran this script and a small launcher in the kernel's own folder; the launcher starts
// the tslab of the project the notebook lives in (found from the kernel's working directory, the
// notebook's folder), falling back to this clone's. Nothing has to be on the PATH.
//
// No Python is needed: the kernel folder is written where jupyter_core looks for the user's
// kernels ($JUPYTER_DATA_DIR, else ~/.local/share/jupyter on Linux, ~/Library/Jupyter on macOS,
// %APPDATA%\jupyter on Windows). A failure is a one-line notice, never a failed install.
const fs = require("fs");
const os = require("os");
const path = require("path");

const KERNEL_NAME = "improved-dreambooth";
const DISPLAY_NAME = "TypeScript (improved-dreambooth)";
const root = path.resolve(__dirname, "..");

/** jupyter_core's `jupyter_data_dir()` for this platform and environment. */
function jupyterDataDir(env = process.env, platform = process.platform) {
  if (env.JUPYTER_DATA_DIR) return env.JUPYTER_DATA_DIR;
  const home = os.homedir();
  if (platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (platform === "win32") {
    return env.APPDATA ? path.join(env.APPDATA, "jupyter") : path.join(home, ".jupyter", "data");
  }
  return path.join(env.XDG_DATA_HOME || path.join(home, ".local", "share"), "jupyter");
}

/** The launcher's source: starts the tslab kernel of the notebook's project, else of `fallbackRoot`. */
function launcherSource(fallbackRoot) {
  return `// Starts tslab for the "${KERNEL_NAME}" Jupyter kernel (written by scripts/install-kernel.cjs).
// Usage: node launch.cjs <connection file>. Jupyter starts kernels in the notebook's folder, so the
// tslab found from the working directory is the notebook's own project's; else the installing clone's.
const path = require("path");
const fallbackRoot = ${JSON.stringify(fallbackRoot)};
function find(dir) {
  try {
    return path.dirname(require.resolve("tslab/package.json", { paths: [dir] }));
  } catch {
    return undefined;
  }
}
const tslab = find(process.cwd()) || find(fallbackRoot);
if (!tslab) {
  console.error(\`tslab is installed neither near \${process.cwd()} nor in \${fallbackRoot}: run npm install\`);
  process.exit(1);
}
process.argv = [process.argv[0], path.join(tslab, "bin", "tslab"), "kernel", "--config-path", process.argv[2]];
require(path.join(tslab, "dist", "main.js")).main();
`;
}

/** The kernel spec (kernel.json) for a launcher at `launcher`, run by the Node at `node`. */
function kernelSpec(node, launcher) {
  return {
    argv: [node, launcher, "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    metadata: { debugger: false },
  };
}

/** Writes the kernel folder; returns its path. */
function installKernel({ dataDir = jupyterDataDir(), node = process.execPath, fallbackRoot = root } = {}) {
  const dir = path.join(dataDir, "kernels", KERNEL_NAME);
  fs.mkdirSync(dir, { recursive: true });
  const launcher = path.join(dir, "launch.cjs");
  fs.writeFileSync(launcher, launcherSource(fallbackRoot));
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(kernelSpec(node, launcher), null, 1) + "\n");
  return dir;
}

module.exports = { KERNEL_NAME, DISPLAY_NAME, jupyterDataDir, installKernel, kernelSpec, launcherSource };

if (require.main === module) {
  try {
    const dir = installKernel();
    console.log(`Jupyter kernel "${KERNEL_NAME}" registered in ${dir}`);
  } catch (e) {
    console.log(`Jupyter kernel "${KERNEL_NAME}" not registered (${e.message}); run \`npm run kernel\` to retry`);
  }
}
