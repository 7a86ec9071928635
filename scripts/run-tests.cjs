// Runs every unit test (`lib/**/*.test.ts`, `cli/**/*.test.ts`, `scripts/**/*.test.ts`) with
// node's test runner, compiling TypeScript on the fly with tsx. Arguments narrow the set:
// `npm run test:unit -- lib/schedules` runs the tests under that folder only. With DREAMBOOTH_NATIVE=0
// (the oneDNN kernels switched off: the wasm kernels alone) the addon's own tests are left out rather
// than run to skip: they test a kernel path that was asked not to run.
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
const NATIVE_TESTS = /(^|[\\/])(native|onednn-[^\\/]*)\.test\.ts$/;
const nativeOff = process.env.DREAMBOOTH_NATIVE === "0";
const all = roots.flatMap((r) => find(path.join(root, r), [])).sort();
const files = nativeOff ? all.filter((f) => !NATIVE_TESTS.test(f)) : all;
if (nativeOff && files.length < all.length) {
  console.log(
    `DREAMBOOTH_NATIVE=0: the oneDNN kernels' tests are left out (${all.filter((f) => NATIVE_TESTS.test(f)).join(", ")})`,
  );
}
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ")}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
  cwd: root,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
