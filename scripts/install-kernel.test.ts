import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { installKernel, jupyterDataDir, KERNEL_NAME } = require("./install-kernel.cjs");

test("the kernel folder goes where jupyter_core looks for the user's kernels", () => {
  const home = os.homedir();
  assert.equal(jupyterDataDir({ JUPYTER_DATA_DIR: "/x" }, "linux"), "/x");
  assert.equal(jupyterDataDir({}, "linux"), path.join(home, ".local", "share", "jupyter"));
  assert.equal(jupyterDataDir({ XDG_DATA_HOME: "/d" }, "linux"), path.join("/d", "jupyter"));
  assert.equal(jupyterDataDir({}, "darwin"), path.join(home, "Library", "Jupyter"));
  assert.equal(jupyterDataDir({ APPDATA: "/a" }, "win32"), path.join("/a", "jupyter"));
});

/** A fake project holding a "tslab" whose main() prints the arguments it was started with. */
function fakeProject(dir: string, label: string): void {
  const t = path.join(dir, "node_modules", "tslab");
  fs.mkdirSync(path.join(t, "dist"), { recursive: true });
  fs.writeFileSync(path.join(t, "package.json"), JSON.stringify({ name: "tslab", version: "0.0.0" }));
  const main = `exports.main = () => console.log(JSON.stringify([${JSON.stringify(label)}, process.argv.slice(2)]));`;
  fs.writeFileSync(path.join(t, "dist", "main.js"), main);
}

test("the kernel starts by absolute paths, with the notebook's project's tslab, else the installing clone's", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-"));
  try {
    const clone = path.join(tmp, "clone");
    const other = path.join(tmp, "other");
    fakeProject(clone, "clone");
    fakeProject(other, "other");
    fs.mkdirSync(path.join(other, "notebooks"));
    const dir = installKernel({ dataDir: path.join(tmp, "data"), fallbackRoot: clone });
    assert.equal(dir, path.join(tmp, "data", "kernels", KERNEL_NAME));
    const spec = JSON.parse(fs.readFileSync(path.join(dir, "kernel.json"), "utf8"));
    assert.equal(spec.language, "typescript");
    assert.equal(spec.argv[0], process.execPath);
    assert.equal(spec.argv[1], path.join(dir, "launch.cjs"));
    assert.equal(spec.argv[2], "{connection_file}");
    // started as Jupyter starts it: in the notebook's folder, with nothing of npm on the PATH
    const run = (cwd: string) => {
      const env = { PATH: "/nonexistent" };
      const r = spawnSync(spec.argv[0], [spec.argv[1], "/tmp/conn.json"], { cwd, encoding: "utf8", env });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    assert.deepEqual(run(path.join(other, "notebooks")), ["other", ["kernel", "--config-path", "/tmp/conn.json"]]);
    assert.deepEqual(run(tmp), ["clone", ["kernel", "--config-path", "/tmp/conn.json"]]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
