import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { command, onPath, restoreDefaultData } from "./repro";
import { command as experiment, EXPERIMENT_TARGET } from "./experiment";
import { buildGraph, loadStages, upstreamOf } from "../../lib/repro";

test("repro hands over to `dvc repro` with the same arguments when dvc is on the PATH", async () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-dvc-"));
  const record = path.join(bin, "args.txt");
  fs.writeFileSync(path.join(bin, "dvc"), `#!/bin/sh\necho "$@" > '${record}'\nexit 3\n`, { mode: 0o755 });
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${saved}`;
  try {
    assert.equal(onPath("dvc"), path.join(bin, "dvc"));
    assert.equal(await command.run(["train@linear", "-f", "--dry"]), 3);
    assert.equal(fs.readFileSync(record, "utf8"), "repro train@linear -f --dry\n");
  } finally {
    process.env.PATH = saved;
  }
  assert.equal(onPath("dvc", bin + "-missing"), undefined);
});

test("repro rejects unknown options by name", async () => {
  await assert.rejects(command.run(["--builtin", "--jobs"]), /unknown option --jobs/);
});

test("experiment is the compare stage of the pipeline with all it depends on, and takes repro's options", async () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-dvc-"));
  const record = path.join(bin, "args.txt");
  fs.writeFileSync(path.join(bin, "dvc"), `#!/bin/sh\necho "$@" > '${record}'\nexit 0\n`, { mode: 0o755 });
  const saved = process.env.PATH;
  process.env.PATH = `${bin}${path.delimiter}${saved}`;
  try {
    assert.equal(await experiment.run(["--dry"]), 0);
    assert.equal(fs.readFileSync(record, "utf8"), `repro ${EXPERIMENT_TARGET} --dry\n`);
  } finally {
    process.env.PATH = saved;
  }
  await assert.rejects(experiment.run(["linear"]), /unexpected argument "linear"/);
  // the target reaches every fine-tuning, sampling and scoring stage of the real dvc.yaml
  const root = path.resolve(__dirname, "..", "..");
  const up = new Set(upstreamOf(buildGraph(root, loadStages(root)), [EXPERIMENT_TARGET]));
  for (const k of ["linear", "linear-ztsnr", "sigmoid", "sigmoid-ztsnr", "sigmoid-ztsnr-noprior"]) {
    for (const seed of [0, 1, 2]) {
      const name = `${k}-${seed}`;
      assert.ok(up.has(`dreambooth@${name}`) && up.has(`samples@${name}`) && up.has(`score@${name}`), name);
    }
  }
  assert.ok(up.has("class_images") && up.has("base_samples") && up.has("base_score"));
});

test("a missing data/ is regenerated when data.dvc records the default subject; otherwise nothing is left behind", async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "restore-"));
  const repo = path.resolve(__dirname, "../..");
  fs.copyFileSync(path.join(repo, "data.dvc"), path.join(root, "data.dvc"));
  const lines: string[] = [];
  await restoreDefaultData(root, (l) => lines.push(l));
  assert.match(lines[0], /regenerated the default subject's instance images \(md5 [0-9a-f]+\.dir matches data\.dvc\)/);
  // the md5 match above is the check; data/ is a DVC output (gitignored), so compare with data.dvc, not a working copy
  const nfiles = Number(/nfiles: (\d+)/.exec(fs.readFileSync(path.join(root, "data.dvc"), "utf8"))![1]);
  const files = fs.readdirSync(path.join(root, "data")).sort();
  assert.equal(files.length, nfiles);
  assert.ok(
    files.includes("metadata.json") && files.filter((f) => /^instance-\d+\.png$/.test(f)).length === 5,
    files.join(", "),
  );
  // data.dvc of other images: an error naming the fix, and no data/ that a later run would take for the user's
  fs.rmSync(path.join(root, "data"), { recursive: true });
  fs.writeFileSync(
    path.join(root, "data.dvc"),
    fs
      .readFileSync(path.join(root, "data.dvc"), "utf8")
      .replace(/md5: [0-9a-f]{32}\.dir/, "md5: 0123456789abcdef0123456789abcdef.dir"),
  );
  await assert.rejects(
    restoreDefaultData(root, () => {}),
    /data\.dvc tracks other images .* restore them into data\//,
  );
  assert.equal(fs.existsSync(path.join(root, "data")), false);
  fs.rmSync(root, { recursive: true, force: true });
});
