/**
 * The compute bench (`npm run bench`), all numbers from this one run on the wasm backend:
 *  (a) the matMul ceiling: the fastest of many warm 512² non-transposed products (lib/kernels/ceiling),
 *      and what N cores give over 1 for that loop and for memory streaming;
 *  (b) per-kernel throughput, native wasm kernel vs the project's (lib/kernels);
 *  (c) training steps (conv+attention probe network, tiny U-Net): achieved FLOP/s as a ratio of
 *      (a), in-process before/after the project's kernels, and samples/s with 1 worker vs all cores,
 *      and the same steps in independent workers (the workload's own bound on the speedup);
 *  (d) the oneDNN kernels under wasm (bench/onednn.ts): the native ceiling, kernels, and the training
 *      step side by side with the wasm kernels, which (a)-(c) measure alone.
 * Environment: BENCH_QUICK=1 runs fewer repetitions. `--onednn` runs (d) only.
 */
import * as os from "os";
import { Worker } from "worker_threads";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend";
import { registerTrainingKernels, restoreNativeWasmKernels } from "../lib/kernels";
import { matmulCeiling } from "../lib/kernels/ceiling";
import { WorkerPool } from "../lib/parallel/pool";
import { AdamW, clipByGlobalNorm, Ema } from "../lib/train/optim";
import type { Params } from "../lib/models/params";
import { splitRange, type ParallelTask } from "../lib/parallel/task";
import { poolSource } from "../lib/train/trainer";
import * as probe from "../lib/parallel/fixtures/probe-task";
import { gflops, median, spread, timeAsync, timeOp, type Timing } from "./timing";
import { setOneDnnEnabled } from "../lib/kernels/native";
import { oneDnnSection } from "./onednn";

const QUICK = process.env.BENCH_QUICK === "1";
/** untimed steps before each timed series (weights loaded, kernels warmed) */
const WARMUP = 1;
const REPS = QUICK ? 3 : 7;
const ext = __filename.endsWith(".ts") ? ".ts" : ".js";
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const rnd = (shape: number[]) => tf.randomNormal(shape, 0, 1, "float32", 1);

/**
 * (a') How much the cores add when nothing is exchanged: `n` workers each run the same matMul loop at
 * once; returns total GFLOP/s. n workers over 1 bounds any data-parallel speedup on this machine.
 */
async function parallelMatmul(n: number, reps = QUICK ? 40 : 100, size = 512): Promise<number> {
  const wall = await runTogether(Array.from({ length: n }, () => benchWorker("ceiling-worker", { reps, size })));
  return (n * reps * 2 * size ** 3) / (wall * 1e-3) / 1e9;
}

/**
 * (a'') The memory bus: `n` workers each copy a 64 MB buffer `reps` times at once; returns GB/s moved
 * in all (read + write). n over 1 is what the cores get when a step's work is memory-bound.
 */
async function parallelStream(n: number, reps = QUICK ? 8 : 20, mb = 64): Promise<number> {
  const wall = await runTogether(Array.from({ length: n }, () => benchWorker("stream-worker", { reps, mb })));
  return (n * reps * 2 * mb * 2 ** 20) / (wall * 1e-3) / 1e9;
}

/** A worker thread running bench/<name> (through tsx when the bench itself runs from source). */
function benchWorker(name: string, workerData: unknown): Worker {
  const file = path.join(__dirname, `${name}${ext}`);
  return ext === ".ts"
    ? new Worker(`require("tsx/cjs"); require(${JSON.stringify(file)});`, { eval: true, workerData })
    : new Worker(file, { workerData });
}

/** Resolves when every worker has posted a message (its ready or its time, `{ ms }`). */
const replies = (workers: Worker[]) =>
  Promise.all(
    workers.map((w) => new Promise<{ ms: number }>((res, rej) => (w.once("message", res), w.once("error", rej)))),
  );

/** Signals every (ready) worker at once; returns the wall time (ms) until the last one reports its `{ ms }`. */
async function go(workers: Worker[]): Promise<number> {
  const t0 = performance.now();
  const done = replies(workers);
  workers.forEach((w) => w.postMessage("go"));
  const times = await done;
  return Math.max(performance.now() - t0, ...times.map((t) => t.ms));
}

/** Waits until every worker is ready, runs them once together, and terminates them: the wall time (ms). */
async function runTogether(workers: Worker[]): Promise<number> {
  try {
    await replies(workers);
    return await go(workers);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * (c') The workload's own bound: `n` workers each run the subject's training step on their shard of
 * the batch (bench/step-worker), at once and with no exchange, against one worker on the whole
 * batch. The two are measured in alternation, `rounds` times, so that load from outside this
 * process falls on both alike; returns each round's speedup, sorted.
 */
async function independentSpeedups(
  s: StepSubject,
  n: number,
  rounds = QUICK ? 2 : 3,
  reps = QUICK ? 2 : 3,
): Promise<number[]> {
  const start = (k: number) =>
    splitRange(s.batch, k).map((shard) =>
      benchWorker("step-worker", { module: s.module, config: s.config, shard, reps }),
    );
  const one = start(1);
  const all = start(n);
  try {
    await replies([...one, ...all]);
    const out: number[] = [];
    for (let r = 0; r < rounds; r++) out.push((await go(one)) / (await go(all)));
    return out.sort((a, b) => a - b);
  } finally {
    await Promise.all([...one, ...all].map((w) => w.terminate()));
  }
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
  const bpf = (dy: tf.Tensor, s: number) =>
    tf
      .engine()
      .runKernel(
        "Conv2DBackpropFilter",
        { x, dy },
        { strides: s, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 64, 64] },
      ) as tf.Tensor;
  const rows: KernelRow[] = [
    { name: "conv2d forward 3x3 s1", flops: conv, run: () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same") },
    {
      name: "conv backprop input s1",
      flops: conv,
      run: () => tf.conv2dTranspose(dy1 as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 64], 1, "same"),
    },
    {
      name: "conv backprop input s2",
      flops: conv / 4,
      run: () => tf.conv2dTranspose(dy2 as tf.Tensor4D, w as tf.Tensor4D, [4, 32, 32, 64], 2, "same"),
    },
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
    { name: "bias grad Σ 4×32×32×64 (GB/s)", flops: 4 * 32 * 32 * 64 * 4, run: () => tf.sum(dy1, [0, 1, 2]) },
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
    out.push(
      `${row.name.padEnd(30)} ${(n == null ? "missing" : fmt(n)).padStart(8)} ${fmt(o).padStart(8)}  ${n == null ? "   —" : fmt(o / n, 2).padStart(5) + "×"}`,
    );
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
  /** the same subject with another batch */
  withBatch: (batch: number) => StepSubject;
}

function probeSubject(batch: number): StepSubject {
  const probeCfg: probe.ProbeConfig = { seed: 0, batch, size: 32, channels: 4, width: 64 };
  return {
    name: `conv+attention probe (${batch}×32×32, width 64)`,
    module: path.join(__dirname, "..", "lib", "parallel", "fixtures", `probe-task${ext}`),
    config: probeCfg,
    batch,
    trainFlops: 3 * probe.probeForwardFlops(probeCfg),
    setup: async () => probe.setup(probeCfg),
    withBatch: probeSubject,
  };
}

function unetSubject(unet: typeof import("./unet-task"), batch: number): StepSubject {
  const cfg = { seed: 0, batch, seqLen: 77 };
  return {
    name: "tiny U-Net (16×16×4 latents, 77 tokens)",
    module: path.join(__dirname, `unet-task${ext}`),
    config: cfg,
    batch,
    trainFlops: unet.unetTrainFlops(cfg.batch, cfg.seqLen),
    setup: async () => unet.setup(cfg),
    withBatch: (b) => unetSubject(unet, b),
  };
}

async function subjects(): Promise<StepSubject[]> {
  const list: StepSubject[] = [probeSubject(8)];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const unet = require("./unet-task") as typeof import("./unet-task");
    // batch 16, as pretraining uses: with fewer samples per worker the per-step weight exchange dominates
    list.push(unetSubject(unet, 16));
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

/**
 * Data-parallel training steps as the trainer takes them (lib/train/trainer.ts with poolSource):
 * gradients on the shards in the workers, averaged, clipped, AdamW and EMA, new weights to every
 * worker. `shared` (the trainer's default): the update runs in the workers on shared buffers;
 * otherwise on the main thread, with the weights posted back (`fused` picks its optimizer code).
 * Also returns the main thread's share of the step, during which the workers wait.
 */
async function pooled(
  s: StepSubject,
  size: number,
  mode: { shared: boolean; fused?: boolean },
): Promise<Timing & { mainMs: number; computeMs: number }> {
  const p = await openPool(s, size, mode);
  try {
    const t = await timeAsync(p.step, QUICK ? 2 : 4, WARMUP);
    const timed = (xs: number[]) => median(xs.slice(WARMUP));
    return { ...t, mainMs: timed(p.mainMs), computeMs: p.computeMs.length ? timed(p.computeMs) : 0 };
  } finally {
    await p.close();
  }
}

let poolsOpened = 0;

/** A pool of `size` workers on subject `s`, taking training steps as the trainer does; records each step's main-thread and compute times. */
async function openPool(
  s: StepSubject,
  size: number,
  mode: { shared: boolean; fused?: boolean },
): Promise<{ step: () => Promise<void>; mainMs: number[]; computeMs: number[]; close: () => Promise<void> }> {
  const pool = await WorkerPool.start({ module: s.module, config: s.config, size });
  const params: Params = new Map();
  const opt = new AdamW({ fused: mode.fused });
  let ema: Ema | null = null;
  const close = async () => {
    opt.dispose();
    ema?.dispose();
    tf.dispose([...params.values()]);
    await pool.close();
  };
  const shards = splitRange(s.batch, size);
  const source = poolSource(pool, { sharedUpdate: mode.shared });
  try {
    const w0 = await pool.getWeights(0);
    const id = ++poolsOpened; // variable names are global: two pools may be open at once
    pool.params.forEach((p, i) =>
      params.set(p.name, tf.variable(tf.tensor(w0[i], p.shape), true, `bench${id}/${p.name}`)),
    );
    ema = new Ema(0.999, params, mode.fused);
    if (source.shared) await source.shared.attach(params, opt, ema);
  } catch (e) {
    await close();
    throw e;
  }
  const shadow = ema;
  // one entry per step, warm-up steps first
  const mainMs: number[] = [];
  const computeMs: number[] = [];
  const step = async () => {
    if (source.shared) {
      computeMs.push((await pool.sharedGradients(shards)).timing.computeMs);
      const t0 = performance.now();
      await source.shared.apply(1e-4, 1, ++opt.step);
      mainMs.push(performance.now() - t0);
    } else {
      const avg = await pool.lossAndGrads(shards);
      const t0 = performance.now();
      const grads = new Map<string, tf.Tensor>(pool.params.map((p, i) => [p.name, tf.tensor(avg.grads[i], p.shape)]));
      clipByGlobalNorm(grads, 1);
      opt.apply(params, grads, 1e-4);
      tf.dispose([...grads.values()]);
      shadow.update(params);
      await pool.setWeights(pool.params.map((p) => params.get(p.name)!.dataSync() as Float32Array));
      mainMs.push(performance.now() - t0);
    }
  };
  return { step, mainMs, computeMs, close };
}

/**
 * Samples/s of pool b over pool a (each a subject and a worker count, shared-memory update), measured
 * in alternation, `rounds` times `reps` steps each, so that load from outside this process falls on
 * both alike; returns each round's ratio, sorted.
 */
async function alternatedSpeedups(
  a: [StepSubject, number],
  b: [StepSubject, number],
  rounds = QUICK ? 2 : 3,
  reps = QUICK ? 2 : 3,
): Promise<number[]> {
  const pa = await openPool(a[0], a[1], { shared: true });
  try {
    const pb = await openPool(b[0], b[1], { shared: true });
    try {
      await pa.step();
      await pb.step();
      const rate = async (p: { step: () => Promise<void> }, batch: number) => {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) await p.step();
        return (batch * reps) / (performance.now() - t0);
      };
      const out: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const ra = await rate(pa, a[0].batch);
        out.push((await rate(pb, b[0].batch)) / ra);
      }
      return out.sort((x, y) => x - y);
    } finally {
      await pb.close();
    }
  } finally {
    await pa.close();
  }
}

async function main(): Promise<void> {
  const info = await initBackend({ prefer: "wasm" });
  const cores = os.availableParallelism();
  console.log(
    `# compute bench — backend ${info.name}, ${cores} cores, tfjs ${tf.version_core}, ${new Date().toISOString()}`,
  );
  console.log(
    `# times are medians; ± is half the min–max range of the repetitions (other processes share these cores)\n`,
  );
  if (process.argv.includes("--onednn")) return oneDnnSection();
  // (a)-(c) measure the wasm kernels alone, here and in the workers (which read DREAMBOOTH_NATIVE)
  setOneDnnEnabled(false);
  const nativeFlag = process.env.DREAMBOOTH_NATIVE;
  process.env.DREAMBOOTH_NATIVE = "0";
  await wasmSections(cores);
  if (nativeFlag === undefined) delete process.env.DREAMBOOTH_NATIVE;
  else process.env.DREAMBOOTH_NATIVE = nativeFlag;
  setOneDnnEnabled(true);
  console.log("");
  await oneDnnSection();
}

async function wasmSections(cores: number): Promise<void> {
  // (a) the fast path's ceiling: the fastest of many warm 512² products (lib/kernels/ceiling; the
  // median of a few runs on a shared machine was seen to halve from one run to the next)
  const ceil = await matmulCeiling({ reps: QUICK ? 15 : 30 });
  console.log(
    `(a) wasm matMul 512×512·512×512: ${fmt(ceil.gflops)} GFLOP/s (fastest of ${QUICK ? 15 : 30}; median ${fmt(ceil.medianGflops)})`,
  );
  if (cores > 1) {
    const p1 = await parallelMatmul(1);
    const pn = await parallelMatmul(cores);
    console.log(
      `    the same loop in 1 worker: ${fmt(p1)} GFLOP/s; in ${cores} workers at once: ${fmt(pn)} GFLOP/s in all = ${fmt(pn / p1, 2)}× (the bound on any data-parallel speedup here)`,
    );
    const s1 = await parallelStream(1);
    const sn = await parallelStream(cores);
    console.log(
      `    memory streaming (64 MB copies) in 1 worker: ${fmt(s1)} GB/s; in ${cores} workers at once: ${fmt(sn)} GB/s in all = ${fmt(sn / s1, 2)}× (what memory-bound work gains)`,
    );
  }
  console.log("");

  console.log("(b) per-kernel throughput, native wasm vs project kernels");
  for (const line of await kernelTable()) console.log("    " + line);
  console.log("");

  console.log("(c) training steps (FLOPs = 3 × forward); ratio = achieved / (a)");
  for (const s of await subjects()) {
    const before = await inProcess(s, "native");
    const after = await inProcess(s, "project");
    const one = await pooled(s, 1, { shared: true });
    const all = cores > 1 ? await pooled(s, cores, { shared: true }) : one;
    const allMain = cores > 1 ? await pooled(s, cores, { shared: false }) : one;
    const g = (t: Timing) => gflops(s.trainFlops, t);
    const sps = (t: Timing, subject: StepSubject = s) => subject.batch / (t.medianMs / 1000);
    console.log(`    ${s.name}: ${fmt(s.trainFlops / 1e9, 2)} GFLOP per step of ${s.batch} samples`);
    console.log(
      `      in-process, native kernels (gaps filled): ${fmt(before.medianMs, 0)} ms  ${fmt(g(before))} GFLOP/s  ratio ${fmt(g(before) / ceil.gflops, 2)}  (±${fmt(spread(before), 0)}%)`,
    );
    console.log(
      `      in-process, project kernels:              ${fmt(after.medianMs, 0)} ms  ${fmt(g(after))} GFLOP/s  ratio ${fmt(g(after) / ceil.gflops, 2)}  (±${fmt(spread(after), 0)}%)  ${fmt(before.medianMs / after.medianMs, 2)}× faster`,
    );
    const main = (t: { mainMs: number; medianMs: number; computeMs: number }) =>
      `main thread ${fmt(t.mainMs, 0)} ms/step (${fmt((100 * t.mainMs) / t.medianMs, 0)}%)${t.computeMs ? `, workers' loss + gradients ${fmt(t.computeMs, 0)} ms (${fmt((100 * t.computeMs) / t.medianMs, 0)}%)` : ""}`;
    console.log(
      `      pool, 1 worker:   ${fmt(one.medianMs, 0)} ms  ${fmt(sps(one), 2)} samples/s  ${fmt(g(one))} GFLOP/s  ratio ${fmt(g(one) / ceil.gflops, 2)}  (±${fmt(spread(one), 0)}%)  ${main(one)}`,
    );
    console.log(
      `      pool, ${cores} workers:  ${fmt(all.medianMs, 0)} ms  ${fmt(sps(all), 2)} samples/s  ${fmt(g(all))} GFLOP/s  (±${fmt(spread(all), 0)}%)  ${main(all)}  speedup ${fmt(one.medianMs / all.medianMs, 2)}× over 1 worker`,
    );
    console.log(
      `      pool, ${cores} workers, update on the main thread (before): ${fmt(allMain.medianMs, 0)} ms  ${main(allMain)}  speedup ${fmt(one.medianMs / allMain.medianMs, 2)}×`,
    );
    if (cores > 1) {
      // the same two speedups in alternation with one worker: on a fixed batch split over the cores, and
      // with every worker keeping the one worker's batch (weak scaling; the batch grows with the cores).
      // Splitting a fixed batch also makes each worker's products smaller, which costs per sample on one
      // core already: the line "1 worker at" measures that alone.
      const half = s.withBatch(Math.max(1, Math.floor(s.batch / cores)));
      const oneHalf = await pooled(half, 1, { shared: true });
      console.log(
        `      1 worker at ${half.batch} samples a step: ${fmt(sps(oneHalf, half), 2)} samples/s (${fmt(sps(oneHalf, half) / sps(one), 2)} of its rate at ${s.batch}: what splitting the batch costs before any sharing)`,
      );
      const strong = await alternatedSpeedups([s, 1], [s, cores]);
      console.log(
        `      pool, ${cores} workers on the batch of ${s.batch}, against 1 in alternation: ${fmt(median(strong), 2)}× (rounds: ${strong.map((x) => fmt(x, 2)).join(", ")})`,
      );
      const weak = await alternatedSpeedups([s, 1], [s.withBatch(s.batch * cores), cores]);
      console.log(
        `      pool, ${cores} workers × ${s.batch} samples (batch ${s.batch * cores}), against 1 worker at ${s.batch} in alternation: ${fmt(median(weak), 2)}× the samples/s (rounds: ${weak.map((x) => fmt(x, 2)).join(", ")}; weak scaling)`,
      );
      const sp = await independentSpeedups(s, cores);
      console.log(
        `      ${cores} workers stepping independently (no averaging, update or weights to exchange), against 1 in alternation: ${fmt(median(sp), 2)}× (rounds: ${sp.map((x) => fmt(x, 2)).join(", ")}; this workload's bound here)`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
