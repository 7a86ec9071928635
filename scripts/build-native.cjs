#!/usr/bin/env node
/**
 * Builds the optional oneDNN addon (native/, lib/kernels/native.ts) at `npm install`, when oneDNN's
 * headers are installed (Debian: `apt install libdnnl-dev`), with the node-gyp that npm bundles and
 * Node's own headers (no download). Prints one line either way and never fails the install: without
 * the addon the wasm backend runs its own kernels. DREAMBOOTH_NATIVE=0 skips the build.
 * The build goes to native/build/ (git-ignored); its log to native/build/build.log.
 */
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const root = path.join(__dirname, "..");
const dir = path.join(root, "native");
const addon = path.join(dir, "build", "Release", "dnnl_kernels.node");
const say = (line) => console.log(`oneDNN kernels: ${line}`);

/** The first of `candidates` that exists, or null. */
const firstExisting = (candidates) => candidates.find((p) => p && fs.existsSync(p)) ?? null;

function nodeGyp() {
  const bundled = path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  let resolved = null;
  try {
    resolved = require.resolve("node-gyp/bin/node-gyp.js");
  } catch {
    // not a dependency; npm's own copy below
  }
  return firstExisting([process.env.npm_config_node_gyp, resolved, bundled]);
}

function main() {
  if (process.env.DREAMBOOTH_NATIVE === "0") return say("skipped (DREAMBOOTH_NATIVE=0); the wasm backend runs its own kernels");
  if (process.platform !== "linux") return say(`skipped (built on Linux only; this is ${process.platform}); the wasm backend runs its own kernels`);
  const header = firstExisting(["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/oneapi/dnnl/dnnl.hpp"]);
  if (!header) return say("skipped (oneDNN headers not found: apt install libdnnl-dev, then npm install); the wasm backend runs its own kernels");
  const gyp = nodeGyp();
  if (!gyp) return say("skipped (node-gyp not found); the wasm backend runs its own kernels");
  // Node's headers where Node is installed (Debian, nodesource, official tarballs): no download
  const nodeRoot = path.resolve(path.dirname(process.execPath), "..");
  const args = [gyp, "rebuild", `--directory=${dir}`];
  if (fs.existsSync(path.join(nodeRoot, "include", "node", "node_api.h"))) args.push(`--nodedir=${nodeRoot}`);
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });
  const log = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`;
  fs.mkdirSync(path.join(dir, "build"), { recursive: true });
  fs.writeFileSync(path.join(dir, "build", "build.log"), log);
  if (r.status !== 0 || !fs.existsSync(addon)) {
    const reason = log.split("\n").find((l) => /error/i.test(l))?.trim() ?? `node-gyp exited with ${r.status}`;
    return say(`build failed (${reason.slice(0, 160)}; see native/build/build.log); the wasm backend runs its own kernels`);
  }
  // load it once in a child process: a library that is present but will not load is reported now
  const check = spawnSync(process.execPath, ["-e", `const a = require(${JSON.stringify(addon)}); const i = a.info(); console.log(i.version + " " + i.isa)`], { encoding: "utf8" });
  if (check.status !== 0) return say(`built but does not load (${(check.stderr || "").split("\n").find((l) => l.trim()) ?? "unknown error"}); the wasm backend runs its own kernels`);
  say(`built (oneDNN ${check.stdout.trim()}, ${path.relative(root, addon)})`);
}

try {
  main();
} catch (e) {
  say(`build failed (${String(e && e.message).split("\n")[0]}); the wasm backend runs its own kernels`);
}
