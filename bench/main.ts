/**
 * The compute bench (`npm run bench`), all numbers from this one run on the wasm backend:
 *  (a) the matMul ceiling: a 512² non-transposed product, warm, median of 7;
 *  (b) per-kernel throughput, native wasm kernel vs the project's (lib/kernels);
 *  (c) training steps (conv+attention probe network, tiny U-Net): achieved FLOP/s as a ratio of
 *      (a), in-process before/after the project's kernels, and samples/s with 1 worker vs all cores.
 * Environment: BENCH_QUICK=1 runs fewer repetitions.
 */
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend";
import { registerTrainingKernels, restoreNativeWasmKernels } from "../lib/kernels";
import { WorkerPool, dataParallelStep } from "../lib/parallel/pool";
import { splitRange, type ParallelTask } from "../lib/parallel/task";
import * as probe from "../lib/parallel/probe-task";
import { gflops, spread, timeAsync, timeOp, type Timing } from "./timing";

const QUICK = process.env.BENCH_QUICK === "1";
const REPS = QUICK ? 3 : 7;
const ext = __filename.endsWith(".ts") ? ".ts" : ".js";
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const rnd = (shape: number[]) => tf.randomNormal(shape, 0, 1, "float32", 1);

/** (a) The fast path's ceiling: a warm 512×512 · 512×512 product. */
async function matmulCeiling(): Promise<{ gflops: number; t: Timing }> {
  const a = rnd([512, 512]);
  const b = rnd([512, 512]);
  const t = await timeOp(() => tf.matMul(a, b), REPS, 3);
  tf.dispose([a, b]);
  return { gflops: gflops(2 * 512 ** 3, t), t };
}

interface KernelRow {
  name: string;
  flops: number;
  run: () => tf.Tensor;
}

/** (b) Kernels at tiny-U-Net-like sizes; `run` calls the op whose kernel is native or ours depending on registration. */
function kernelRows(): { rows: KernelRow[]; dispose: () => void } {
  const x = rnd([4, 32, 32, 64]);
  const w = rnd([3, 3, 64, 64]);
  const dy1 = rnd([4, 32, 32, 64]);
  const dy2 = rnd([4, 16, 16, 64]);
  const a = rnd([512, 512]);
  const b = rnd([512, 512]);
  const q = rnd([16, 256, 32]);
  const k = rnd([16, 256, 32]);
  const p = rnd([16, 256, 256]);
  const conv = 2 * 4 * 32 * 32 * 9 * 64 * 64;
  const bpf = (dy: tf.Tensor, s: number) => tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: s, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 64, 64] }) as tf.Tensor;
  const rows: KernelRow[] = [
    { name: "conv2d forward 3x3 s1", flops: conv, run: () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same") },
    { name: "conv backprop input s1", flops: conv, run: () => tf.conv2dTranspose(dy1 as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 64], 1, "same") },
    { name: "conv backprop input s2", flops: conv / 4, run: () => tf.conv2dTranspose(dy2 as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 64], 2, "same") },
    { name: "conv backprop filter s1", flops: conv, run: () => bpf(dy1, 1) },
    { name: "conv backprop filter s2", flops: conv / 4, run: () => bpf(dy2, 2) },
    { name: "matMul 512 a·b", flops: 2 * 512 ** 3, run: () => tf.matMul(a, b) },
    { name: "matMul 512 a·bᵀ", flops: 2 * 512 ** 3, run: () => tf.matMul(a, b, false, true) },
    { name: "matMul 512 aᵀ·b", flops: 2 * 512 ** 3, run: () => tf.matMul(a, b, true, false) },
    { name: "matMul 512 aᵀ·bᵀ", flops: 2 * 512 ** 3, run: () => tf.matMul(a, b, true, true) },
    { name: "batched q·kᵀ 16×256×32", flops: 2 * 16 * 256 * 256 * 32, run: () => tf.matMul(q, k, false, true) },
    { name: "batched p·v 16×256×256", flops: 2 * 16 * 256 * 256 * 32, run: () => tf.matMul(p, k) },
    { name: "batched pᵀ·dy (grad)", flops: 2 * 16 * 256 * 256 * 32, run: () => tf.matMul(p, k, true, false) },
    { name: "softmax 16×256×256 (GB/s)", flops: 16 * 256 * 256 * 4, run: () => tf.softmax(p) },
  ];
  return { rows, dispose: () => tf.dispose([x, w, dy1, dy2, a, b, q, k, p]) };
}

async function kernelTable(): Promise<string[]> {
  const { rows, dispose } = kernelRows();
  const out: string[] = [];
  const measure = async (mode: "native" | "project") => {
    if (mode === "native") restoreNativeWasmKernels();
    else registerTrainingKernels();
    const r: (number | null)[] = [];
    for (const row of rows) {
      try {
        r.push(gflops(row.flops, await timeOp(row.run, REPS, 2)));
      } catch {
        r.push(null); // kernel not registered natively
      }
    }
    return r;
  };
  const native = await measure("native");
  const ours = await measure("project");
  out.push(`${"kernel".padEnd(30)} ${"native".padStart(8)} ${"project".padStart(8)}  speedup   (GFLOP/s)`);
  rows.forEach((row, i) => {
    const n = native[i];
    const o = ours[i]!;
    out.push(`${row.name.padEnd(30)} ${(n == null ? "missing" : fmt(n)).padStart(8)} ${fmt(o).padStart(8)}  ${n == null ? "   —" : fmt(o / n, 2).padStart(5) + "×"}`);
  });
  dispose();
  return out;
}

interface StepSubject {
  name: string;
  module: string;
  config: unknown;
  batch: number;
  trainFlops: number;
  setup: () => Promise<ParallelTask<[number, number]> & { dispose(): void }>;
}

async function subjects(): Promise<StepSubject[]> {
  const probeCfg: probe.ProbeConfig = { seed: 0, batch: 8, size: 32, channels: 4, width: 64 };
  const list: StepSubject[] = [
    {
      name: "conv+attention probe (8×32×32, width 64)",
      module: path.join(__dirname, "..", "lib", "parallel", `probe-task${ext}`),
      config: probeCfg,
      batch: probeCfg.batch,
      trainFlops: 3 * probe.probeForwardFlops(probeCfg),
      setup: async () => probe.setup(probeCfg),
    },
  ];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const unet = require("./unet-task") as typeof import("./unet-task");
    // batch 16, as pretraining uses: with fewer samples per worker the per-step weight exchange dominates
    const cfg = { seed: 0, batch: 16, seqLen: 77 };
    list.push({
      name: "tiny U-Net (16×16×16 latents, 77 tokens)",
      module: path.join(__dirname, `unet-task${ext}`),
      config: cfg,
      batch: cfg.batch,
      trainFlops: unet.unetTrainFlops(cfg.batch, cfg.seqLen),
      setup: async () => unet.setup(cfg),
    });
  } catch (e) {
    process.stderr.write(`tiny U-Net unavailable, skipped: ${String((e as Error).message).split("\n")[0]}\n`);
  }
  return list;
}

/** In-process step time with the given kernel mode. */
async function inProcess(s: StepSubject, mode: "native" | "project"): Promise<Timing> {
  if (mode === "native") restoreNativeWasmKernels({ keepMissing: true });
  else registerTrainingKernels();
  const task = await s.setup();
  const t = await timeAsync(async () => void (await task.lossAndGrads([0, s.batch])), QUICK ? 2 : 4, 1);
  task.dispose();
  registerTrainingKernels();
  return t;
}

/** Data-parallel step (gradients on shards, average, SGD on the main thread, weights back) with `size` workers. */
async function pooled(s: StepSubject, size: number): Promise<Timing> {
  const pool = await WorkerPool.start({ module: s.module, config: s.config, size });
  try {
    let weights = await pool.getWeights(0);
    const sgd = (w: Float32Array[], g: Float32Array[]) => w.map((wi, i) => wi.map((v, k) => v - 1e-4 * g[i][k]));
    const shards = splitRange(s.batch, size);
    return await timeAsync(async () => {
      weights = (await dataParallelStep(pool, weights, shards, sgd)).weights;
    }, QUICK ? 2 : 4, 1);
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const info = await initBackend({ prefer: "wasm" });
  const cores = os.availableParallelism();
  console.log(`# compute bench — backend ${info.name}, ${cores} cores, tfjs ${tf.version_core}, ${new Date().toISOString()}`);
  console.log(`# times are medians; ± is half the min–max range of the repetitions (other processes share these cores)\n`);

  const ceil = await matmulCeiling();
  console.log(`(a) wasm matMul 512×512·512×512: ${fmt(ceil.gflops)} GFLOP/s (±${fmt(spread(ceil.t), 0)}%)\n`);

  console.log("(b) per-kernel throughput, native wasm vs project kernels");
  for (const line of await kernelTable()) console.log("    " + line);
  console.log("");

  console.log("(c) training steps (FLOPs = 3 × forward); ratio = achieved / (a)");
  for (const s of await subjects()) {
    const before = await inProcess(s, "native");
    const after = await inProcess(s, "project");
    const one = await pooled(s, 1);
    const all = cores > 1 ? await pooled(s, cores) : one;
    const g = (t: Timing) => gflops(s.trainFlops, t);
    const sps = (t: Timing) => s.batch / (t.medianMs / 1000);
    console.log(`    ${s.name}: ${fmt(s.trainFlops / 1e9, 2)} GFLOP per step of ${s.batch} samples`);
    console.log(`      in-process, native kernels (gaps filled): ${fmt(before.medianMs, 0)} ms  ${fmt(g(before))} GFLOP/s  ratio ${fmt(g(before) / ceil.gflops, 2)}  (±${fmt(spread(before), 0)}%)`);
    console.log(`      in-process, project kernels:              ${fmt(after.medianMs, 0)} ms  ${fmt(g(after))} GFLOP/s  ratio ${fmt(g(after) / ceil.gflops, 2)}  (±${fmt(spread(after), 0)}%)  ${fmt(before.medianMs / after.medianMs, 2)}× faster`);
    console.log(`      pool, 1 worker:   ${fmt(one.medianMs, 0)} ms  ${fmt(sps(one), 2)} samples/s  ${fmt(g(one))} GFLOP/s  (±${fmt(spread(one), 0)}%)`);
    console.log(`      pool, ${cores} workers:  ${fmt(all.medianMs, 0)} ms  ${fmt(sps(all), 2)} samples/s  ${fmt(g(all))} GFLOP/s  (±${fmt(spread(all), 0)}%)  speedup ${fmt(one.medianMs / all.medianMs, 2)}× over 1 worker`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
