// Makes the built library importable by its package name from anywhere in the repository
// (tslab compiles each notebook with the notebook's folder as its root, so notebooks cannot
// import ../lib/*.ts: they `import ... from "improved-dreambooth"` instead), and puts the
// `dreambooth` CLI on node_modules/.bin.
const fs = require("fs");
const path = require("path");
const root = path.resolve(__dirname, "..");
function link(target, at) {
  try {
    const st = fs.lstatSync(at);
    if (st.isSymbolicLink() && fs.readlinkSync(at) === target) return;
    fs.rmSync(at, { recursive: true, force: true });
  } catch {
    // absent: nothing to do
  }
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at);
}
link("..", path.join(root, "node_modules", "improved-dreambooth"));
link("../../dist/cli/main.js", path.join(root, "node_modules", ".bin", "dreambooth"));
try {
  fs.chmodSync(path.join(root, "dist", "cli", "main.js"), 0o755);
} catch {
  // absent: nothing to do
}
