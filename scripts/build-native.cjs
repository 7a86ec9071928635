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
  const npmDir = path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm");
  const bundled = path.join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js");
  let resolved = null;
  try {
    resolved = require.resolve("node-gyp/bin/node-gyp.js");
  } catch {
    // not a dependency; npm's own copy below
  }
  return firstExisting([process.env.npm_config_node_gyp, resolved, bundled]);
}

/** The one line for every way the addon is not there. */
const without = (why) => say(`${why}; the wasm backend runs its own kernels`);

function main() {
  if (process.env.DREAMBOOTH_NATIVE === "0") return without("skipped (DREAMBOOTH_NATIVE=0)");
  if (process.platform !== "linux") return without(`skipped (built on Linux only; this is ${process.platform})`);
  const header = firstExisting(["/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/oneapi/dnnl/dnnl.hpp"]);
  if (!header) return without("skipped (oneDNN headers not found: apt install libdnnl-dev, then npm install)");
  const gyp = nodeGyp();
  if (!gyp) return without("skipped (node-gyp not found)");
  // Node's headers where Node is installed (Debian, nodesource, official tarballs): no download
  const nodeRoot = path.resolve(path.dirname(process.execPath), "..");
  const args = [gyp, "rebuild", `--directory=${dir}`];
  if (fs.existsSync(path.join(nodeRoot, "include", "node", "node_api.h"))) args.push(`--nodedir=${nodeRoot}`);
  const env = { ...process.env, npm_config_loglevel: "error" };
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8", env });
  const log = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`;
  fs.mkdirSync(path.join(dir, "build"), { recursive: true });
  fs.writeFileSync(path.join(dir, "build", "build.log"), log);
  if (r.status !== 0 || !fs.existsSync(addon)) {
    const reason = log.split("\n").find((l) => /error/i.test(l)) ?? `node-gyp exited with ${r.status}`;
    return without(`build failed (${reason.trim().slice(0, 160)}; see native/build/build.log)`);
  }
  // load it once in a child process: a library that is present but will not load is reported now
  const probe = `const i = require(${JSON.stringify(addon)}).info(); console.log(i.version + " " + i.isa)`;
  const check = spawnSync(process.execPath, ["-e", probe], { encoding: "utf8" });
  if (check.status !== 0) {
    const reason = (check.stderr || "").split("\n").find((l) => l.trim()) ?? "unknown error";
    return without(`built but does not load (${reason})`);
  }
  say(`built (oneDNN ${check.stdout.trim()}, ${path.relative(root, addon)})`);
}

try {
  main();
} catch (e) {
  without(`build failed (${String(e && e.message).split("\n")[0]})`);
}
