/**
 * The bench's section (d): the oneDNN kernels under the wasm backend (lib/kernels/native) side by side
 * with the wasm kernels, in one run:
 *  - the native ceiling: oneDNN's sgemm on 1024² matrices, fastest of 20, on 1 thread and on every core;
 *  - kernels at the tiny U-Net's sizes, wasm (the project's kernels) against oneDNN on 1 and all threads;
 *  - the tiny U-Net's training step (16 samples) in this process, wasm and oneDNN in alternation: ms,
 *    GFLOP/s as a ratio to the ceiling of the same thread count, samples/s, speedup over wasm;
 *  - full training steps as the trainer takes them (worker pool, shared-memory AdamW and EMA), in
 *    alternation: wasm workers, oneDNN workers with one thread each, one oneDNN worker with every thread.
 */
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import {
  oneDnnAddon,
  oneDnnStatus,
  setOneDnnEnabled,
  setOneDnnThreads,
  defaultOneDnnThreads,
} from "../lib/kernels/native";
import { GROUP_NORM, GROUP_NORM_GRAD } from "../lib/kernels/groupnorm";
import { WorkerPool } from "../lib/parallel/pool";
import { splitRange } from "../lib/parallel/task";
import { AdamW, Ema } from "../lib/train/optim";
import { poolSource } from "../lib/train/trainer";
import type { Params } from "../lib/models/params";
import * as unet from "./unet-task";
import { median, timeOp } from "./timing";

const QUICK = process.env.BENCH_QUICK === "1";
const ext = __filename.endsWith(".ts") ? ".ts" : ".js";
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "—");
const BATCH = 16;

/** oneDNN's sgemm C = A·B on n×n matrices: the fastest of `reps`, in GFLOP/s, on `threads` threads. */
function nativeCeiling(threads: number, n = 1024, reps = QUICK ? 10 : 20): number {
  const a = oneDnnAddon()!;
  const buf = new ArrayBuffer(3 * 4 * n * n);
  const f = new Float32Array(buf);
  for (let i = 0; i < f.length; i++) f[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  setOneDnnThreads(threads);
  try {
    const p = new Float64Array([n, 2, 0, 4 * n * n, 8 * n * n]);
    a.sgemm(buf, p); // warm up (threads started, code paths loaded)
    p[1] = reps;
    return (2 * n ** 3) / a.sgemm(buf, p) / 1e9;
  } finally {
    setOneDnnThreads(defaultOneDnnThreads());
  }
}

interface Row {
  name: string;
  /** FLOPs, or bytes moved for the memory-bound rows (their rates read as GB/s) */
  work: number;
  bytes?: boolean;
  run: () => tf.Tensor;
}

function rows(): { rows: Row[]; dispose: () => void } {
  const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, "float32", seed);
  const x = rnd([16, 16, 16, 64], 1);
  const w = rnd([3, 3, 64, 64], 2);
  const dy = rnd([16, 16, 16, 64], 3);
  const a = rnd([1024, 96], 4);
  const b = rnd([96, 96], 5);
  const q = rnd([64, 256, 24], 6);
  const k = rnd([64, 77, 24], 7);
  const bias = rnd([96], 8);
  const g = tf.ones([64]);
  const beta = tf.zeros([64]);
  const conv = 2 * 16 * 16 * 16 * 9 * 64 * 64;
  const n = x.size;
  const gnAttrs = { groups: 32, eps: 1e-5, silu: true } as unknown as tf.NamedAttrMap;
  const gn = () => tf.engine().runKernel(GROUP_NORM, { x, gamma: g, beta }, gnAttrs) as tf.Tensor[];
  const first = (ts: tf.Tensor[]) => (tf.dispose(ts.slice(1)), ts[0]);
  const list: Row[] = [
    {
      name: "conv2d 3×3 16×16×16×64 fwd",
      work: conv,
      run: () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same"),
    },
    {
      name: "conv backprop input",
      work: conv,
      run: () =>
        tf
          .engine()
          .runKernel(
            "Conv2DBackpropInput",
            { dy, filter: w },
            { strides: 1, pad: "same", dataFormat: "NHWC", inputShape: x.shape },
          ) as tf.Tensor,
    },
    {
      name: "conv backprop filter",
      work: conv,
      run: () =>
        tf
          .engine()
          .runKernel(
            "Conv2DBackpropFilter",
            { x, dy },
            { strides: 1, pad: "same", dataFormat: "NHWC", filterShape: w.shape },
          ) as tf.Tensor,
    },
    { name: "linear 1024×96·96×96 + bias", work: 2 * 1024 * 96 * 96, run: () => tf.fused.matMul({ a, b, bias }) },
    { name: "its gradient aᵀ·dy", work: 2 * 1024 * 96 * 96, run: () => tf.matMul(a, a, true, false) },
    {
      name: "attention q·kᵀ 64×256×24·24×77",
      work: 2 * 64 * 256 * 77 * 24,
      run: () => tf.matMul(q, k, false, true),
    },
    { name: "GroupNorm+SiLU (GB/s)", work: 8 * n, bytes: true, run: () => first(gn()) },
    {
      name: "its gradient (GB/s)",
      work: 12 * n,
      bytes: true,
      run: () => {
        const [y, mean, rstd] = gn();
        const out = tf
          .engine()
          .runKernel(GROUP_NORM_GRAD, { dy, x, gamma: g, beta, mean, rstd, y }, gnAttrs) as tf.Tensor[];
        tf.dispose([y, mean, rstd]);
        return first(out);
      },
    },
    { name: "bias grad Σ over 16×16×16 (GB/s)", work: 4 * n, bytes: true, run: () => tf.sum(dy, [0, 1, 2]) },
  ];
  return { rows: list, dispose: () => tf.dispose([x, w, dy, a, b, q, k, bias, g, beta]) };
}

async function kernelTable(cores: number): Promise<string[]> {
  const { rows: list, dispose } = rows();
  const reps = QUICK ? 3 : 7;
  const rate = async (r: Row) => r.work / ((await timeOp(r.run, reps, 2)).minMs * 1e-3) / 1e9;
  const cols: number[][] = [];
  for (const [on, threads] of [
    [false, 1],
    [true, 1],
    [true, cores],
  ] as const) {
    setOneDnnEnabled(on);
    setOneDnnThreads(threads);
    const col: number[] = [];
    for (const r of list) col.push(await rate(r));
    cols.push(col);
  }
  setOneDnnEnabled(true);
  setOneDnnThreads(defaultOneDnnThreads());
  dispose();
  const head = `kernel (GFLOP/s, fastest of ${reps})`.padEnd(36);
  const out = [
    `${head}${"wasm".padStart(7)} ${"oneDNN×1".padStart(9)} ${`oneDNN×${cores}`.padStart(9)}` +
      `  speedup ×1, ×${cores}`,
  ];
  list.forEach((r, i) => {
    const [wv, o1, on] = cols.map((c) => c[i]);
    out.push(
      `${r.name.padEnd(36)}${fmt(wv).padStart(7)} ${fmt(o1).padStart(9)} ${fmt(on).padStart(9)}` +
        `  ${fmt(o1 / wv, 1).padStart(5)}×, ${fmt(on / wv, 1)}×`,
    );
  });
  return out;
}

/** The in-process step in each mode, alternated `rounds` times (warm-up first); times in ms per mode. */
async function inProcessSteps(modes: { on: boolean; threads: number }[], rounds: number): Promise<number[][]> {
  const task = unet.setup({ seed: 0, batch: BATCH, seqLen: 77 });
  const times = modes.map(() => [] as number[]);
  try {
    for (let r = -1; r < rounds; r++) {
      for (const [i, m] of modes.entries()) {
        setOneDnnEnabled(m.on);
        setOneDnnThreads(m.threads);
        const t0 = performance.now();
        await task.lossAndGrads([0, BATCH]);
        if (r >= 0) times[i].push(performance.now() - t0);
      }
    }
  } finally {
    setOneDnnEnabled(true);
    setOneDnnThreads(defaultOneDnnThreads());
    task.dispose();
  }
  return times;
}

interface PoolRun {
  step: () => Promise<void>;
  close: () => Promise<void>;
}

/** A pool of `size` workers taking the trainer's full steps (shared-memory gradients, clip, AdamW, EMA). */
async function openPool(size: number, nativeOn: boolean, nativeThreads: number): Promise<PoolRun> {
  const saved = process.env.DREAMBOOTH_NATIVE;
  // the workers read it when they load the addon: "0" keeps them on the wasm kernels
  if (!nativeOn) process.env.DREAMBOOTH_NATIVE = "0";
  let pool: WorkerPool;
  try {
    pool = await WorkerPool.start({
      module: path.join(__dirname, `unet-task${ext}`),
      config: { seed: 0, batch: BATCH, seqLen: 77 },
      size,
      nativeThreads,
    });
  } finally {
    if (saved === undefined) delete process.env.DREAMBOOTH_NATIVE;
    else process.env.DREAMBOOTH_NATIVE = saved;
  }
  const source = poolSource(pool, { sharedUpdate: true });
  const params: Params = new Map();
  const w0 = await pool.getWeights(0);
  const tag = `onednn-bench-${size}-${nativeOn}-${nativeThreads}`;
  pool.params.forEach((p, i) => params.set(p.name, tf.variable(tf.tensor(w0[i], p.shape), true, `${tag}/${p.name}`)));
  const opt = new AdamW({});
  const ema = new Ema(0.999, params);
  await source.shared!.attach(params, opt, ema);
  const shards = splitRange(BATCH, size);
  return {
    step: async () => {
      await pool.sharedGradients(shards);
      await source.shared!.apply(1e-4, 1, ++opt.step);
    },
    close: async () => {
      opt.dispose();
      ema.dispose();
      tf.dispose([...params.values()]);
      await pool.close();
    },
  };
}

/** One step's line: time, GFLOP/s and its ratio to `ceiling` (when given), samples/s, then `extra`. */
function line(label: string, ms: number, flops: number, ceiling: number | null, extra = ""): string {
  const rate = flops / (ms * 1e-3) / 1e9;
  const ratio = ceiling ? `  ${fmt(rate / ceiling, 2)} of the ceiling` : "";
  const samples = `${fmt((1000 * BATCH) / ms, 1)} samples/s`;
  return `${label.padEnd(40)}${fmt(ms, 0).padStart(6)} ms ${fmt(rate).padStart(6)} GFLOP/s${ratio}  ${samples}${extra}`;
}

/** Prints section (d). */
export async function oneDnnSection(): Promise<void> {
  const status = oneDnnStatus();
  const addon = oneDnnAddon();
  if (!addon) {
    console.log(`(d) oneDNN kernels: not measured (${status.why})`);
    return;
  }
  const cores = os.availableParallelism();
  console.log(
    `(d) oneDNN ${status.version} kernels under wasm (lib/kernels/native; ${status.isa}, OpenMP, ` +
      `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? "unset"})`,
  );
  const c1 = nativeCeiling(1);
  const cn = cores > 1 ? nativeCeiling(cores) : c1;
  console.log(
    `    native ceiling, oneDNN sgemm 1024²·1024²: ${fmt(c1)} GFLOP/s on 1 thread, ${fmt(cn)} on ${cores} ` +
      `(fastest of ${QUICK ? 10 : 20})`,
  );
  for (const l of await kernelTable(cores)) console.log(`    ${l}`);

  const flops = unet.unetTrainFlops(BATCH, 77);
  const rounds = QUICK ? 2 : 5;
  const modes = [
    { on: false, threads: 1 },
    { on: true, threads: 1 },
    ...(cores > 1 ? [{ on: true, threads: cores }] : []),
  ];
  const t = (await inProcessSteps(modes, rounds)).map(median);
  console.log(
    `    tiny U-Net training step, ${BATCH} samples (${fmt(flops / 1e9, 2)} GFLOP), in this process, ` +
      `the modes alternated ${rounds} times (medians):`,
  );
  console.log(`      ${line("wasm kernels (the project's)", t[0], flops, c1)}`);
  console.log(`      ${line("oneDNN, 1 thread", t[1], flops, c1, `  ${fmt(t[0] / t[1], 2)}× the wasm step`)}`);
  if (cores > 1)
    console.log(
      `      ${line(`oneDNN, ${cores} threads`, t[2], flops, cn, `  ${fmt(t[0] / t[2], 2)}× the wasm step`)}`,
    );
  const best = cores > 1 && t[2] < t[1] ? 2 : 1;
  const ratio = flops / (t[best] * 1e-3) / 1e9 / (best === 2 ? cn : c1);
  console.log(
    `      targets: oneDNN step ≥ 0.6 of the native ceiling: ${fmt(ratio, 2)} ` +
      `(${best === 2 ? `${cores} threads` : "1 thread"}); ≥ 3× the wasm step: ${fmt(t[0] / t[best], 2)}×`,
  );

  // full steps as the trainer takes them, in alternation so that outside load falls on each alike
  const configs: [string, number, boolean, number][] = [[`pool, ${cores} workers, wasm kernels`, cores, false, 1]];
  if (cores > 1) configs.push([`pool, ${cores} workers × 1 oneDNN thread`, cores, true, 1]);
  configs.push([`pool, 1 worker × ${cores} oneDNN threads`, 1, true, cores]);
  const pools: PoolRun[] = [];
  try {
    for (const [, size, on, threads] of configs) pools.push(await openPool(size, on, threads));
    const times = pools.map(() => [] as number[]);
    for (let r = -1; r < rounds; r++) {
      for (const [i, p] of pools.entries()) {
        const t0 = performance.now();
        await p.step();
        if (r >= 0) times[i].push(performance.now() - t0);
      }
    }
    const ms = times.map(median);
    console.log(
      `    full training steps (gradients, clipping, AdamW, EMA; the trainer's shared-memory update), ` +
        `alternated ${rounds} times:`,
    );
    configs.forEach(([label], i) =>
      console.log(`      ${line(label, ms[i], flops, null, i ? `  ${fmt(ms[0] / ms[i], 2)}× the wasm pool` : "")}`),
    );
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
}
