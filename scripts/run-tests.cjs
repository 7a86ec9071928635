// Runs every unit test (`lib/**/*.test.ts`, `cli/**/*.test.ts`, `scripts/**/*.test.ts`) with
// node's test runner, compiling TypeScript on the fly with tsx. Arguments narrow the set:
// `npm run test:unit -- lib/schedules` runs the tests under that folder only.
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
function find(dir, out) {
  if (!fs.existsSync(dir)) return out;
  if (fs.statSync(dir).isFile()) {
    if (dir.endsWith(".test.ts")) out.push(path.relative(root, dir));
    return out;
  }
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith(".test.ts")) out.push(path.relative(root, p));
  }
  return out;
}
const roots = process.argv.slice(2).length ? process.argv.slice(2) : ["lib", "cli", "scripts"];
const files = roots.flatMap((r) => find(path.join(root, r), [])).sort();
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ")}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
  cwd: root,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
