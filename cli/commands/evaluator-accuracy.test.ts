import { test } from "node:test";
import assert from "node:assert/strict";
import { command } from "./evaluator-accuracy";
import { UsageError } from "../command";

// console.log, not process.stdout.write: the command awaits, and the test runner's own report goes to stdout meanwhile
async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const log = console.log;
  console.log = (...xs: unknown[]) => void (out += xs.join(" ") + "\n");
  try {
    return { code: await command.run(argv), out };
  } finally {
    console.log = log;
  }
}

test("evaluator-accuracy --json: every attribute with counts, a Wilson interval around its accuracy, and the identity target", async () => {
  const { code, out } = await capture(["--test", "24", "--seed", "3", "--backend", "wasm", "--json"]);
  assert.equal(code, 0);
  const doc = JSON.parse(out) as {
    faces: number;
    attributes: {
      attribute: string;
      correct: number;
      scored: number;
      accuracy: number;
      ci95: [number, number];
      identity: boolean;
      meetsTarget: boolean | null;
    }[];
  };
  assert.equal(doc.faces, 24);
  assert.equal(doc.attributes.length, 12);
  for (const a of doc.attributes) {
    assert.ok(a.scored > 0 && a.scored <= 24 && a.correct <= a.scored, a.attribute);
    assert.equal(a.accuracy, a.correct / a.scored);
    assert.ok(a.ci95[0] <= a.accuracy && a.accuracy <= a.ci95[1], a.attribute);
    assert.equal(a.meetsTarget, a.identity ? a.accuracy >= 0.95 : null);
  }
  assert.deepEqual(doc.attributes.filter((a) => a.identity).length, 9);
});

test("evaluator-accuracy: the table names the target; bad arguments are usage errors; a missing evaluator names the folder", async () => {
  const { out } = await capture(["--test", "8", "--backend", "wasm"]);
  assert.match(out, /held-out accuracy on 8 test-split faces/);
  assert.match(out, /eyebrows .*\[\d+\.\d, \d+\.\d\]/);
  await assert.rejects(command.run(["--test", "0"]), UsageError);
  await assert.rejects(command.run(["extra"]), UsageError);
  await assert.rejects(
    command.run(["--evaluator", "/nonexistent/evaluator", "--test", "2", "--backend", "wasm"]),
    /nonexistent/,
  );
});
