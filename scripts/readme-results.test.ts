import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { firstTable, section, blocks, block } = require("./readme-results.cjs") as {
  firstTable: (text: string) => string | null;
  section: (text: string, title: string) => string | null;
  blocks: (claims: string) => Record<string, string | null>;
  block: (readme: string, name: string) => string | null;
};
const root = path.resolve(__dirname, "..");

test("the README's results are those metrics/claims.md holds (npm run readme copies them)", () => {
  const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
  const want = blocks(fs.readFileSync(path.join(root, "metrics", "claims.md"), "utf8"));
  for (const [name, body] of Object.entries(want)) {
    assert.ok(body, `metrics/claims.md lacks its ${name} part`);
    assert.ok(block(readme, name) !== null, `README.md lacks the markers <!-- ${name}:begin/end -->`);
    assert.equal(
      block(readme, name),
      body,
      `README.md's ${name} differ from metrics/claims.md: run \`npm run readme\``,
    );
  }
});

test("the helpers find what they are given, and nothing else", () => {
  const doc = "# t\n\ntext\n| a |\n|---|\n| 1 |\n\n| b |\n\n## In plain words\n\n- one\n- two\n\n## Power\n";
  assert.equal(firstTable(doc), "| a |\n|---|\n| 1 |");
  assert.equal(firstTable("no table"), null);
  assert.equal(section(doc, "In plain words"), "- one\n- two");
  assert.equal(section(doc, "Missing"), null);
  assert.equal(block("x <!-- n:begin -->\n| a |\n<!-- n:end --> y", "n"), "| a |");
  assert.equal(block("<!-- n:end --> <!-- n:begin -->", "n"), null);
});
