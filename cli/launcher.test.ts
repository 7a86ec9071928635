/**
 * bin/dreambooth, what dvc.yaml's stages call: it runs from a plain shell (no node_modules/.bin on the
 * PATH, no npm), and where `npm install` has not run it says so in one line instead of a stack trace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const plainPath = ["/usr/local/bin", "/usr/bin", "/bin"].join(path.delimiter);

test("bin/dreambooth runs the CLI from a plain shell's PATH", () => {
  const r = spawnSync(
    path.join(root, "bin", "dreambooth"),
    ["schedule", "--kind", "linear", "--timesteps", "4", "--json"],
    {
      cwd: root,
      env: { PATH: plainPath, HOME: os.homedir() },
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).betas.length, 4);
});

test("without `npm install`, bin/dreambooth says so in one line and exits 127", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "launcher-"));
  try {
    fs.mkdirSync(path.join(dir, "bin"));
    fs.copyFileSync(path.join(root, "bin", "dreambooth"), path.join(dir, "bin", "dreambooth"));
    const r = spawnSync(process.execPath, [path.join(dir, "bin", "dreambooth"), "--help"], {
      cwd: dir,
      encoding: "utf8",
    });
    assert.equal(r.status, 127);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^dreambooth: the project's dependencies are not installed: run `npm install` in .* first$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
