// `npm run build`: compiles the TypeScript sources into dist/ (tsconfig.build.json), links the package to
// itself (scripts/link-self.cjs), and stamps the build with the time it started, so bin/dreambooth can
// tell whether a source changed since.
const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const started = new Date();
const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const r = spawnSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) process.exit(r.status ?? 1);
require("./link-self.cjs");
const stamp = path.join(root, "dist", ".build-stamp");
fs.writeFileSync(stamp, `${started.toISOString()}\n`);
fs.utimesSync(stamp, started, started);
