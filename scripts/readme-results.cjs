// Copies the results of `metrics/claims.md` (written by the pipeline's `compare` stage) into the README:
// the verdict table between `<!-- claims:begin -->` and `<!-- claims:end -->`, and the statements of its
// "In plain words" section between `<!-- plainly:begin -->` and `<!-- plainly:end -->`, so the README states
// what the pipeline last measured. `npm run readme` runs it after `npm run repro`;
// `scripts/readme-results.test.ts` fails when the README and metrics/claims.md disagree.
const fs = require("fs");
const path = require("path");

/** The first markdown table of a document: its consecutive lines starting with "|". */
function firstTable(text) {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  if (start < 0) return null;
  let end = start;
  while (end < lines.length && lines[end].startsWith("|")) end++;
  return lines.slice(start, end).join("\n");
}

/** The body of a "## <title>" section, trimmed, up to the next heading. */
function section(text, title) {
  const lines = text.split("\n");
  const start = lines.indexOf(`## ${title}`);
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith("#")) end++;
  return lines
    .slice(start + 1, end)
    .join("\n")
    .trim();
}

/** What goes between each pair of markers, from metrics/claims.md's text. */
function blocks(claims) {
  return { claims: firstTable(claims), plainly: section(claims, "In plain words") };
}

/** The text between `<!-- name:begin -->` and `<!-- name:end -->`, trimmed; null without both markers. */
function block(readme, name) {
  const a = readme.indexOf(`<!-- ${name}:begin -->`);
  const b = readme.indexOf(`<!-- ${name}:end -->`);
  if (a < 0 || b < a) return null;
  return readme.slice(a + `<!-- ${name}:begin -->`.length, b).trim();
}

function replaceBlock(readme, name, body) {
  const begin = `<!-- ${name}:begin -->`;
  const a = readme.indexOf(begin) + begin.length;
  return readme.slice(0, a) + "\n\n" + body + "\n\n" + readme.slice(readme.indexOf(`<!-- ${name}:end -->`));
}

function sync(root) {
  const readmePath = path.join(root, "README.md");
  const claimsPath = path.join(root, "metrics", "claims.md");
  if (!fs.existsSync(claimsPath)) throw new Error(`${claimsPath} is missing: run \`npm run repro\` first`);
  const want = blocks(fs.readFileSync(claimsPath, "utf8"));
  let readme = fs.readFileSync(readmePath, "utf8");
  const before = readme;
  for (const [name, body] of Object.entries(want)) {
    if (body === null) throw new Error(`${claimsPath} lacks its ${name} part: rerun the compare stage (npm run repro)`);
    if (block(readme, name) === null) throw new Error(`README.md lacks the markers <!-- ${name}:begin/end -->`);
    readme = replaceBlock(readme, name, body);
  }
  if (readme !== before) fs.writeFileSync(readmePath, readme);
  return readme !== before;
}

module.exports = { firstTable, section, blocks, block };

if (require.main === module) {
  try {
    const changed = sync(path.resolve(__dirname, ".."));
    console.log(changed ? "README.md: results updated from metrics/claims.md" : "README.md: results up to date");
  } catch (e) {
    console.error(`readme: ${e.message}`);
    process.exit(1);
  }
}
