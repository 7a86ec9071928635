import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { command, onPath } from "./repro";

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
