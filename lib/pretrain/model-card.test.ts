import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { historySection, modelCard, writeModelCard } from "./model-card";

const root = path.resolve(__dirname, "..", "..");

test("a rewritten model card keeps the hand-written history section, and only that", () => {
  assert.equal(historySection("# card\n\ntext\n\n## History\n\n- v1: tried\n"), "## History\n\n- v1: tried\n");
  assert.equal(historySection("# card\n\n## Historyish\n"), "");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "card-"));
  try {
    for (const part of ["unet", "vae", "text_encoder"])
      fs.cpSync(path.join(root, "models", "tiny-sd", part), path.join(dir, part), { recursive: true });
    const { options, report } = JSON.parse(
      fs.readFileSync(path.join(root, "models", "tiny-sd", "training.json"), "utf8"),
    );
    fs.writeFileSync(path.join(dir, "README.md"), "# old card\n\nold numbers\n\n## History\n\n- v1: 50 %\n");
    writeModelCard(dir, options, report);
    const card = fs.readFileSync(path.join(dir, "README.md"), "utf8");
    assert.ok(card.startsWith(modelCard(dir, options, report)), "the generated part is new");
    assert.ok(!card.includes("old numbers"));
    assert.ok(card.endsWith("## History\n\n- v1: 50 %\n"));
    writeModelCard(dir, options, report);
    assert.equal(fs.readFileSync(path.join(dir, "README.md"), "utf8"), card, "rewriting twice changes nothing");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
