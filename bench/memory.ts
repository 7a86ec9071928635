/**
 * The memory check (`npm run bench:memory`): 1,000 training steps of the tiny U-Net (4 samples a step,
 * AdamW and EMA as the trainer applies them) on the wasm backend with whatever kernels it runs (the
 * oneDNN ones where built; DREAMBOOTH_NATIVE=0 for the wasm kernels alone), in this process and in a
 * worker pool (one worker per core, the shared-memory update). Every 100 steps it records tfjs's live
 * tensors and bytes and the wasm heap's size (this thread's and, in the pool, every worker's added up)
 * and the process's resident size, and it fails (exit 1) when any of them grows after the first 100
 * steps: tensors and bytes must not move at all, the heap must not grow, and the resident size's trend
 * (the least-squares line through the samples from step 100 on, which single samples' garbage-collector
 * swings of ±15 MB do not move much) may rise by at most RSS_SLACK_MB over the run.
 * Arguments: `--steps N` (default 1000), `--mode in-process|pool|both` (default both).
 */
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend";
import { WorkerPool } from "../lib/parallel/pool";
import { AdamW, clipByGlobalNorm, Ema } from "../lib/train/optim";
import { poolSource } from "../lib/train/trainer";
import { splitRange } from "../lib/parallel/task";
import type { Params } from "../lib/models/params";
import * as unet from "./unet-task";

/** Rise of the resident size's trend allowed from step 100 to the last (allocator noise, not a leak). */
const RSS_SLACK_MB = 24;
const BATCH = 4;
const ext = __filename.endsWith(".ts") ? ".ts" : ".js";

interface Sample {
  step: number;
  /** live tensors, their bytes and the wasm heap: this thread's, plus every worker's in a pool */
  tensors: number;
  bytes: number;
  heapMb: number;
  rssMb: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

type Memory = { numTensors: number; numBytes: number; heapBytes: number };

/** This thread's tfjs memory and wasm heap (as bench/unet-task's `call` reports a worker's). */
function here(): Memory {
  const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  return { ...tf.memory(), heapBytes: heap };
}

/** This thread's and, with a pool, every worker's tensors, bytes and heap added up; the resident size. */
async function sample(step: number, pool: WorkerPool | null): Promise<Sample> {
  const workers = pool ? Array.from({ length: pool.size }, (_, i) => pool.call<Memory>(i, null)) : [];
  const all = [here(), ...(await Promise.all(workers))];
  const sum = (f: (m: Memory) => number) => all.reduce((a, m) => a + f(m), 0);
  return {
    step,
    tensors: sum((m) => m.numTensors),
    bytes: sum((m) => m.numBytes),
    heapMb: sum((m) => m.heapBytes) / 2 ** 20,
    rssMb: process.memoryUsage().rss / 2 ** 20,
  };
}

type Every = (step: number, pool: WorkerPool | null) => Promise<void>;

/** Fresh weights as variables, with the optimizer and EMA the trainer would hold. */
function mainState(names: { name: string; shape: number[] }[], weights: Float32Array[]) {
  const params: Params = new Map();
  names.forEach((p, i) => params.set(p.name, tf.variable(tf.tensor(weights[i], p.shape), true, `memcheck/${p.name}`)));
  const opt = new AdamW({});
  const ema = new Ema(0.999, params);
  const dispose = () => {
    opt.dispose();
    ema.dispose();
    tf.dispose([...params.values()]);
  };
  return { params, opt, ema, dispose };
}

/** `steps` steps in this process: gradients, clip, AdamW and EMA on the main thread, weights back into the task. */
async function inProcess(steps: number, every: Every): Promise<void> {
  const task = unet.setup({ seed: 0, batch: BATCH, seqLen: 77 });
  const st = mainState(task.params, await task.getWeights());
  try {
    for (let step = 1; step <= steps; step++) {
      const r = await task.lossAndGrads([0, BATCH]);
      const grads = new Map<string, tf.Tensor>(task.params.map((p, i) => [p.name, tf.tensor(r.grads[i], p.shape)]));
      clipByGlobalNorm(grads, 1);
      st.opt.apply(st.params, grads, 1e-4);
      tf.dispose([...grads.values()]);
      st.ema.update(st.params);
      task.setWeights(task.params.map((p) => st.params.get(p.name)!.dataSync() as Float32Array));
      await every(step, null);
    }
  } finally {
    st.dispose();
    task.dispose();
  }
}

/** `steps` steps in a worker pool, as the trainer takes them (shared-memory gradients and update). */
async function pooled(steps: number, every: Every): Promise<void> {
  const size = os.availableParallelism();
  const pool = await WorkerPool.start({
    module: path.join(__dirname, `unet-task${ext}`),
    config: { seed: 0, batch: BATCH, seqLen: 77 },
    size,
  });
  const source = poolSource(pool, { sharedUpdate: true });
  const st = mainState(pool.params, await pool.getWeights(0));
  try {
    await source.shared!.attach(st.params, st.opt, st.ema);
    const shards = splitRange(BATCH, size);
    for (let step = 1; step <= steps; step++) {
      await pool.sharedGradients(shards);
      await source.shared!.apply(1e-4, 1, ++st.opt.step);
      await every(step, pool);
    }
  } finally {
    st.dispose();
    await pool.close();
  }
}

/** Runs one mode, printing a line every 100 steps and at the last; returns the problems found (none: no growth). */
async function check(mode: "in-process" | "pool", steps: number): Promise<string[]> {
  const samples: Sample[] = [];
  const t0 = performance.now();
  const every = async (step: number, pool: WorkerPool | null) => {
    if (step % 100 !== 0 && step !== 1 && step !== steps) return;
    const s = await sample(step, pool);
    samples.push(s);
    const rate = (1000 * step) / (performance.now() - t0);
    console.log(
      `  ${mode} step ${String(step).padStart(5)}: ${s.tensors} tensors, ${(s.bytes / 2 ** 20).toFixed(1)} MB in ` +
        `tensors, wasm heap ${s.heapMb.toFixed(0)} MB, resident ${s.rssMb.toFixed(0)} MB (${rate.toFixed(1)} steps/s)`,
    );
  };
  if (mode === "in-process") await inProcess(steps, every);
  else await pooled(steps, every);
  const base = samples.find((s) => s.step >= Math.min(100, steps))!;
  const last = samples[samples.length - 1];
  const problems: string[] = [];
  for (const s of samples.filter((x) => x.step >= base.step)) {
    if (s.tensors !== base.tensors || s.bytes !== base.bytes)
      problems.push(
        `${mode}: step ${s.step} holds ${s.tensors} tensors (${s.bytes} bytes), ` +
          `step ${base.step} held ${base.tensors} (${base.bytes})`,
      );
    if (s.heapMb > base.heapMb)
      problems.push(
        `${mode}: the wasm heap grew from ${base.heapMb.toFixed(0)} MB (step ${base.step}) ` +
          `to ${s.heapMb.toFixed(0)} MB (step ${s.step})`,
      );
  }
  // the trend: least-squares slope of the resident size against the step, over the run from `base`
  const tail = samples.filter((x) => x.step >= base.step);
  const mean = (f: (x: Sample) => number) => tail.reduce((a, x) => a + f(x), 0) / tail.length;
  const [ms, mr] = [mean((x) => x.step), mean((x) => x.rssMb)];
  const cov = mean((x) => (x.step - ms) * (x.rssMb - mr));
  const varS = mean((x) => (x.step - ms) ** 2);
  const drift = varS > 0 ? (cov / varS) * (last.step - base.step) : 0;
  if (drift > RSS_SLACK_MB)
    problems.push(
      `${mode}: the resident size's trend rose ${drift.toFixed(0)} MB from step ${base.step} to ${last.step} ` +
        `(over ${RSS_SLACK_MB} MB)`,
    );
  const mb = (x: number) => x.toFixed(0);
  console.log(
    `  ${mode}: from step ${base.step} to ${last.step}: tensors ${base.tensors} → ${last.tensors}, ` +
      `wasm heap ${mb(base.heapMb)} → ${mb(last.heapMb)} MB, resident ${mb(base.rssMb)} → ${mb(last.rssMb)} MB ` +
      `(trend ${drift >= 0 ? "+" : ""}${drift.toFixed(1)} MB)`,
  );
  return problems;
}

async function main(): Promise<void> {
  const steps = Number(arg("steps", "1000"));
  const mode = arg("mode", "both");
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`--steps must be a whole number ≥ 1, got ${arg("steps", "")}`);
  if (!["in-process", "pool", "both"].includes(mode))
    throw new Error(`--mode must be in-process, pool or both, got ${mode}`);
  const info = await initBackend({ prefer: "wasm" });
  const kernels = info.kernels ? `, ${info.kernels}` : "";
  console.log(`# memory check — ${steps} steps of the tiny U-Net (${BATCH} samples a step), ${info.name}${kernels}`);
  const problems: string[] = [];
  for (const m of mode === "both" ? (["in-process", "pool"] as const) : [mode as "in-process" | "pool"])
    problems.push(...(await check(m, steps)));
  if (problems.length) {
    console.log(`memory check: FAILED\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log("memory check: no growth");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
