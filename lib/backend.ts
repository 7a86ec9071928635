/**
 * Backend selection: the fastest tfjs backend this machine has, in the order of DESIGN.md
 * ("Compute"): @tensorflow/tfjs-node-gpu (CUDA), @tensorflow/tfjs-node, WebGPU (any GPU with a Vulkan,
 * Metal or D3D12 driver, through the optional `webgpu` package), wasm, cpu.
 *
 * The tfjs-node packages are optional dependencies that download libtensorflow when installed,
 * which fails offline; their absence is a one-line notice, never a crash. The choice can be forced
 * with `prefer` (the CLI's flag) or the environment variable DREAMBOOTH_BACKEND.
 */
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { registerTrainingKernels } from "./kernels";
import { inNotebook } from "./runtime";
import { oneDnnLine } from "./kernels/native";

/** Backends in order of preference. */
export const KNOWN_BACKENDS = ["tfjs-node-gpu", "tfjs-node", "webgpu", "wasm", "cpu"] as const;
export type BackendChoice = (typeof KNOWN_BACKENDS)[number];

export interface BackendOptions {
  /** A name from KNOWN_BACKENDS, or "auto" (default: DREAMBOOTH_BACKEND, else "auto"). */
  prefer?: string;
  /** Where the one-line notice goes (default: stderr; stdout inside a notebook, where stderr shows as an error box). */
  log?: (line: string) => void;
}

export interface BackendInfo {
  /** The backend chosen (one of KNOWN_BACKENDS). */
  name: BackendChoice;
  /** The tfjs backend name now active (tfjs-node registers "tensorflow"). */
  tfBackend: string;
  /** Why this one: what was asked for and what was missing. */
  reason: string;
  /** On wasm: whether its heavy kernels run on oneDNN (lib/kernels/native), and why not. */
  kernels?: string;
}

const NODE_PACKAGES: Record<string, string> = {
  "tfjs-node-gpu": "@tensorflow/tfjs-node-gpu",
  "tfjs-node": "@tensorflow/tfjs-node",
};

/** Load an optional tfjs-node package; returns null and why not if it cannot be loaded. */
function loadNodePackage(choice: string): { ok: true } | { ok: false; why: string } {
  const pkg = NODE_PACKAGES[choice];
  try {
    require.resolve(pkg);
  } catch {
    return { ok: false, why: `${choice} not installed` };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional package, loaded only when asked for
    require(pkg); // registers the "tensorflow" backend
    return { ok: true };
  } catch (e) {
    return { ok: false, why: `${choice} failed to load: ${String((e as Error).message).split("\n")[0]}` };
  }
}

/**
 * WebGPU from Node: the `webgpu` package (Dawn, prebuilt for each platform) provides navigator.gpu,
 * `@tensorflow/tfjs-backend-webgpu` runs on it. Neither is a dependency (Dawn is 130 MB for all
 * platforms): `npm install webgpu @tensorflow/tfjs-backend-webgpu` on a machine with a GPU and a
 * Vulkan driver. Checked on an NVIDIA H200 (Vulkan): Stable Diffusion 1.5's U-Net forward at 64×64
 * latents, batch 2, in 0.2 s. Without a GPU adapter this is skipped with the reason.
 */
async function loadWebGpu(): Promise<{ ok: true } | { ok: false; why: string }> {
  let dawn: { create: (flags: string[]) => { requestAdapter(): Promise<unknown> }; globals: object };
  try {
    require.resolve("@tensorflow/tfjs-backend-webgpu");
    // the package's index is an ES module; its CommonJS-loadable core is the platform's dawn.node
    const dir = path.dirname(require.resolve("webgpu/package.json"));
    const arch = process.platform === "darwin" ? "universal" : process.arch;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the platform's native module, found at run time
    dawn = require(path.join(dir, "dist", `${process.platform}-${arch}`, "dawn.node"));
  } catch {
    return { ok: false, why: "webgpu not installed" };
  }
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    Object.assign(globalThis, dawn.globals);
    const gpu = dawn.create([]);
    Object.defineProperty(globalThis, "navigator", {
      value: { ...(g.navigator ?? {}), gpu },
      configurable: true,
      writable: true,
    });
  }
  const adapter = await (g.navigator!.gpu as { requestAdapter(): Promise<unknown> }).requestAdapter();
  if (!adapter) return { ok: false, why: "webgpu found no GPU adapter (a GPU and its Vulkan driver are needed)" };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional, after its GPU adapter was found
  require("@tensorflow/tfjs-backend-webgpu");
  return { ok: true };
}

/** Parse a backend name; unknown names are an error that lists the known ones. */
export function parseBackendName(name: string, source: string): BackendChoice | "auto" {
  const n = name.trim().toLowerCase();
  if (n === "auto" || n === "") return "auto";
  if ((KNOWN_BACKENDS as readonly string[]).includes(n)) return n as BackendChoice;
  throw new Error(`unknown backend '${name}' (from ${source}); known backends: ${KNOWN_BACKENDS.join(", ")}, or auto`);
}

let current: BackendInfo | null = null;

/**
 * Pick and activate a backend, register the project's gradients and wasm kernels, and print
 * once to stderr (stdout in a notebook) which backend is in use and why (on wasm, also whether the oneDNN
 * kernels are on). Calling again with the same request returns the active choice without printing.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const log = opts.log ?? ((line: string) => (inNotebook() ? process.stdout : process.stderr).write(line + "\n"));
  const fromEnv = process.env.DREAMBOOTH_BACKEND;
  const source = opts.prefer != null ? "the prefer option" : fromEnv != null ? "DREAMBOOTH_BACKEND" : "default";
  const wanted = parseBackendName(opts.prefer ?? fromEnv ?? "auto", source);
  const candidates: readonly BackendChoice[] = wanted === "auto" ? KNOWN_BACKENDS : [wanted];
  const skipped: string[] = [];
  let chosen: BackendChoice | null = null;
  for (const c of candidates) {
    if (c in NODE_PACKAGES || c === "webgpu") {
      const r = c === "webgpu" ? await loadWebGpu() : loadNodePackage(c);
      if (!r.ok) {
        skipped.push(r.why);
        continue;
      }
    }
    chosen = c;
    break;
  }
  if (chosen == null) {
    const pkg = wanted === "webgpu" ? "webgpu and @tensorflow/tfjs-backend-webgpu" : (NODE_PACKAGES[wanted] ?? wanted);
    throw new Error(
      `backend '${wanted}' requested by ${source} is unavailable (${skipped.join("; ")}); install ${pkg} or choose one of ${KNOWN_BACKENDS.join(", ")}`,
    );
  }
  registerTrainingKernels();
  const tfBackend = chosen in NODE_PACKAGES ? "tensorflow" : chosen;
  if (!(await tf.setBackend(tfBackend))) throw new Error(`tfjs could not initialise the '${tfBackend}' backend`);
  await tf.ready();
  // the cpu backend greets its first tensor in Node with a multi-line advert for tfjs-node; this
  // function already says which backend runs and why, once
  if (tfBackend === "cpu") (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  const reason = wanted === "auto" ? (skipped.length ? skipped.join("; ") : "first choice") : `requested by ${source}`;
  const kernels = chosen === "wasm" ? oneDnnLine() : "";
  const info: BackendInfo = { name: chosen, tfBackend, reason, ...(kernels ? { kernels } : {}) };
  const changed = current == null || current.name !== info.name || current.reason !== info.reason;
  if (changed) log(`backend: ${chosen} (${reason})${kernels ? `; ${kernels}` : ""}`);
  current = info;
  return info;
}

/** The active choice, or null before initBackend. */
export function currentBackend(): BackendInfo | null {
  return current;
}
