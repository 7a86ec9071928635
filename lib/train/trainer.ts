/**
 * The training loop, read top to bottom: learning rate, gradients (in-process or data-parallel over
 * worker threads), clip, AdamW step, EMA, log, checkpoint, stop. Every random draw of a step is
 * derived from (seed, step, sample), so a resumed run continues exactly as an uninterrupted one.
 */
import * as fs from "fs";
import { createHash } from "crypto";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import type { Params } from "../models/params";
import "../kernels"; // gradient functions (tfjs-core's CommonJS build registers none)
import { AdamW, AdamWConfig, clipByGlobalNorm, Ema, NonFiniteError } from "./optim";
import { CheckpointComponent, latestCheckpoint, restoreCheckpoint, saveCheckpoint } from "./checkpoint";
import { Progress } from "./progress";
import { rng, Seed } from "../random";
import { writeFileAtomic } from "../io/atomic";
import type { WorkerPool } from "../parallel/pool";
import { splitRange } from "../parallel/task";

/** Where gradients come from. */
export interface GradientSource {
  /** Loss and full-batch gradients (by parameter key) for one step over the given sample indices. */
  step(step: number, samples: number[]): Promise<{ loss: number; grads: Map<string, tf.Tensor> }>;
  /** Called after every optimizer update (and once at the start) so the source sees the new weights. */
  sync(params: Params): Promise<void>;
  /** When present, trainLoop hands the whole update to it (the workers' shared buffers) instead of `step` + `sync`. */
  shared?: SharedUpdateSource;
}

/**
 * A source that also applies the update (clip, AdamW, EMA) where the gradients are, so the main
 * thread's tensors are only brought up to date when a checkpoint is written and at the end.
 */
export interface SharedUpdateSource {
  /** Take over the weights, the AdamW moments and the EMA shadow. */
  attach(params: Params, opt: AdamW, ema: Ema | undefined): Promise<void>;
  /** Loss of one step over the given samples; its averaged gradient stays with the source. */
  gradients(step: number, samples: number[]): Promise<number>;
  /**
   * Clip to `clipNorm` (0 = off), then AdamW step `t` with learning rate `lr`, then EMA. Returns
   * the norm before clipping; a non-finite norm throws NonFiniteError before any weight changes.
   */
  apply(lr: number, clipNorm: number, t: number): Promise<number>;
  /** Copy weights, moments and shadow back into the main thread's tensors. */
  pull(params: Params, opt: AdamW, ema: Ema | undefined): Promise<void>;
}

/** One shard of a step, as a data-parallel task receives it. */
export interface StepShard {
  step: number;
  /** indices into the dataset */
  samples: number[];
  /** samples in the whole batch (for weighting) */
  batch: number;
}

/**
 * Gradients from a WorkerPool: contiguous shards, averaged in worker order (deterministic for a
 * fixed size). By default the update runs in the workers too (`WorkerPool.share`): the same
 * arithmetic as the main-thread optimizer, so the same bytes, without the weight exchange.
 */
export function poolSource(pool: WorkerPool, opts: { sharedUpdate?: boolean } = {}): GradientSource {
  const shards = (step: number, samples: number[]): StepShard[] =>
    splitRange(samples.length, pool.size).map(([a, b]) => ({ step, samples: samples.slice(a, b), batch: samples.length }));
  const shared: SharedUpdateSource = {
    async attach(params, opt, ema) {
      const st = await pool.share({ beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay, emaDecay: ema?.decay }, { ema: !!ema });
      for (const [j, p] of pool.params.entries()) {
        const v = params.get(p.name);
        if (!v) throw new Error(`the workers train "${p.name}", which the main thread does not hold`);
        const at = st.offsets[j];
        st.params.set((await v.data()) as Float32Array, at);
        const m = opt.m.get(p.name);
        const s = opt.v.get(p.name);
        if (m && s) {
          st.m.set((await m.data()) as Float32Array, at);
          st.v.set((await s.data()) as Float32Array, at);
        }
        const e = ema?.shadow.get(p.name);
        if (e && st.ema) st.ema.set((await e.data()) as Float32Array, at);
      }
      pool.markStale();
    },
    async gradients(step, samples) {
      if (samples.length < pool.size) throw new Error(`a batch of ${samples.length} samples cannot feed ${pool.size} workers: use a batch of at least ${pool.size} or fewer workers`);
      return (await pool.sharedGradients(shards(step, samples))).loss;
    },
    async apply(lr, clipNorm, t) {
      const st = pool.shared!;
      // the global norm on the main thread, in parameter order (as clipByGlobalNorm sums it)
      const g = st.grads;
      let sum = 0;
      for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
      const norm = Math.sqrt(sum);
      if (!Number.isFinite(norm)) {
        for (const [j, p] of pool.params.entries()) {
          const sub = g.subarray(st.offsets[j], st.offsets[j] + st.sizes[j]);
          if (sub.some((x) => !Number.isFinite(x))) throw new NonFiniteError(`gradient of ${p.name} is not finite (NaN or Inf): lower the learning rate, or check the inputs`);
        }
        throw new NonFiniteError(`the gradient norm overflowed (${norm}): lower the learning rate`);
      }
      const scale = clipNorm > 0 && norm > clipNorm ? clipNorm / (norm + 1e-6) : null;
      await pool.sharedApply({ lr, t, scale });
      return norm;
    },
    async pull(params, opt, ema) {
      const st = pool.shared;
      if (!st) return;
      // into an existing variable, or a new non-trainable one (moments that did not exist yet)
      const put = (map: Map<string, tf.Variable>, name: string, data: Float32Array, shape: number[]) => {
        const t = tf.tensor(data.slice(), shape, "float32");
        const cur = map.get(name);
        if (cur) cur.assign(t);
        else map.set(name, tf.variable(t, false));
        t.dispose();
      };
      for (const [j, p] of pool.params.entries()) {
        const view = (a: Float32Array) => a.subarray(st.offsets[j], st.offsets[j] + st.sizes[j]);
        put(params as Map<string, tf.Variable>, p.name, view(st.params), p.shape);
        if (opt.step > 0) {
          put(opt.m, p.name, view(st.m), p.shape);
          put(opt.v, p.name, view(st.v), p.shape);
        }
        if (ema && st.ema) put(ema.shadow, p.name, view(st.ema), p.shape);
      }
    },
  };
  return {
    shared: opts.sharedUpdate === false ? undefined : shared,
    async step(step, samples) {
      const avg = await pool.lossAndGrads(shards(step, samples));
      const grads = new Map<string, tf.Tensor>();
      pool.params.forEach((p, i) => grads.set(p.name, tf.tensor(avg.grads[i], p.shape)));
      return { loss: avg.loss, grads };
    },
    async sync(params) {
      const weights: Float32Array[] = [];
      for (const p of pool.params) {
        const v = params.get(p.name);
        if (!v) throw new Error(`the workers train "${p.name}", which the main thread does not hold`);
        // setWeights clones what it posts, so the backend's own copy (or storage, on cpu) can go as is
        weights.push((await v.data()) as Float32Array);
      }
      await pool.setWeights(weights);
    },
  };
}

/** Gradients computed in this process on the main parameters themselves (no copies: for a GPU backend). */
export function localSource(params: Params, loss: (shard: StepShard) => tf.Scalar): GradientSource {
  const keyOf = new Map<string, string>();
  for (const [k, v] of params) keyOf.set(v.name, k);
  const vars = [...params.values()].filter((v) => v.trainable);
  return {
    async step(step, samples) {
      const { value, grads } = tf.variableGrads(() => loss({ step, samples, batch: samples.length }), vars);
      const l = (await value.data())[0];
      value.dispose();
      const out = new Map<string, tf.Tensor>();
      for (const [name, g] of Object.entries(grads)) out.set(keyOf.get(name)!, g);
      return { loss: l, grads: out };
    },
    async sync() {},
  };
}

/** The sample indices of one step: a fresh seeded permutation of the dataset every epoch. */
export function batchIndices(seed: Seed, step: number, batch: number, datasetSize: number): number[] {
  const out: number[] = [];
  let cachedEpoch = -1;
  let perm: Int32Array = new Int32Array(0);
  for (let j = 0; j < batch; j++) {
    const k = step * batch + j;
    const epoch = Math.floor(k / datasetSize);
    if (epoch !== cachedEpoch) {
      const r = rng(seed, "epoch", epoch);
      perm = Int32Array.from({ length: datasetSize }, (_, i) => i);
      for (let i = datasetSize - 1; i > 0; i--) {
        const s = Math.floor(r() * (i + 1));
        [perm[i], perm[s]] = [perm[s], perm[i]];
      }
      cachedEpoch = epoch;
    }
    out.push(perm[k % datasetSize]);
  }
  return out;
}

/** Linear warm-up then constant, or cosine decay to `minLr` (nanoGPT's get_lr). */
export function learningRate(step: number, o: { lr: number; warmupSteps?: number; totalSteps: number; decay?: "constant" | "cosine"; minLr?: number }): number {
  const warm = o.warmupSteps ?? 0;
  if (step < warm) return (o.lr * (step + 1)) / warm;
  if ((o.decay ?? "constant") === "constant") return o.lr;
  const p = Math.min(1, (step - warm) / Math.max(1, o.totalSteps - warm));
  const min = o.minLr ?? o.lr / 10;
  return min + 0.5 * (1 + Math.cos(Math.PI * p)) * (o.lr - min);
}

export interface TrainLoopOptions {
  /** shown on the progress line */
  label: string;
  /** run folder: checkpoints/ and log.csv live here */
  outDir: string;
  totalSteps: number;
  batchSize: number;
  datasetSize: number;
  seed: Seed;
  lr: { lr: number; warmupSteps?: number; decay?: "constant" | "cosine"; minLr?: number };
  optimizer?: Omit<AdamWConfig, "lr">;
  /** clip the global gradient norm (0 = off) */
  clipNorm?: number;
  emaDecay?: number;
  checkpointEvery: number;
  /** what is trained (and checkpointed) */
  components: CheckpointComponent[];
  source: GradientSource;
  /** the config actually used, snapshotted beside every checkpoint */
  config: Record<string, unknown>;
  /** the sample indices of a step (default: `batchIndices` over one dataset of `datasetSize`) */
  samplesFor?: (step: number) => number[];
  /** stop after this step even if totalSteps is larger (to test interruption) */
  stopAfter?: number;
  /** disable the progress line */
  quiet?: boolean;
  /**
   * write the wall-clock `seconds` column in log.csv (default true); without it the log is a
   * function of the seed alone, so a pipeline output that includes it hashes the same on every run
   */
  logSeconds?: boolean;
  /**
   * start from step 0 even where a checkpoint of this run exists (it is moved to checkpoints.stale):
   * what a pipeline stage wants, whose rerun must not resume a run that older code or data made
   */
  fresh?: boolean;
}

export interface TrainResult {
  stepsRun: number;
  finalStep: number;
  lastLoss: number;
  seconds: number;
  samplesPerSecond: number;
  ema?: Ema;
  resumedFrom?: number;
}

const LOG_HEADER = "step,loss,lr,grad_norm,seconds";
const LOG_HEADER_UNTIMED = "step,loss,lr,grad_norm";

/** sha256 of the starting weights (names, shapes, bytes, in order) and the config: what a resumable checkpoint must share. */
async function startFingerprint(params: Params, config: unknown): Promise<string> {
  const h = createHash("sha256");
  h.update(JSON.stringify(config));
  for (const [k, v] of params) {
    h.update(`${k}:${v.shape.join("x")}:${v.dtype};`);
    const d = (await v.data()) as Float32Array;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest("hex");
}

/**
 * Trains, resuming from the newest checkpoint in outDir/checkpoints if there is one that started
 * from the same weights and config (any other, or any with `fresh`, is moved to checkpoints.stale and
 * training starts over).
 */
export async function trainLoop(o: TrainLoopOptions): Promise<TrainResult> {
  const ckptDir = path.join(o.outDir, "checkpoints");
  const logFile = path.join(o.outDir, "log.csv");
  fs.mkdirSync(o.outDir, { recursive: true });
  const params: Params = new Map();
  for (const c of o.components) {
    for (const [k, v] of c.params) {
      if (params.has(k)) throw new Error(`parameter "${k}" appears in two trained components: give them distinct names`);
      params.set(k, v);
    }
  }
  const opt = new AdamW(o.optimizer ?? {});
  const ema = o.emaDecay ? new Ema(o.emaDecay, params) : undefined;
  // resume: weights, moments, EMA and step from the newest checkpoint; the log is cut back to it
  let start = 0;
  // a checkpoint belongs to this run only if it started from the same weights with the same config:
  // a pipeline stage rerun on a new base model finds the old run's checkpoints in its work folder
  const origin = await startFingerprint(params, o.config);
  let latest = latestCheckpoint(ckptDir);
  if (latest && (o.fresh || latest.state.origin !== origin)) {
    const stale = `${ckptDir}.stale`;
    fs.rmSync(stale, { recursive: true, force: true });
    fs.renameSync(ckptDir, stale);
    const why = o.fresh ? "a fresh start was asked for" : "it was made from other starting weights or another config";
    process.stderr.write(`${o.label}: the checkpoint at step ${latest.step} in ${ckptDir} is not resumed (${why}); moved to ${stale}, starting over\n`);
    latest = undefined;
  }
  const timed = o.logSeconds ?? true;
  let rows: string[] = [timed ? LOG_HEADER : LOG_HEADER_UNTIMED];
  if (latest) {
    restoreCheckpoint(latest.path, { components: o.components, optimizer: opt, ema });
    start = latest.step;
    if (fs.existsSync(logFile)) rows = fs.readFileSync(logFile, "utf8").trim().split("\n").filter((l, i) => i === 0 || Number(l.split(",")[0]) <= start);
  }
  writeFileAtomic(path.join(o.outDir, "config.json"), JSON.stringify(o.config, null, 2) + "\n");
  const shared = o.source.shared;
  if (shared) await shared.attach(params, opt, ema);
  else await o.source.sync(params);
  const progress = new Progress({ label: o.label, total: o.totalSteps, start });
  const t0 = Date.now();
  const end = Math.min(o.totalSteps, o.stopAfter ?? o.totalSteps);
  let lastLoss = NaN;
  const log = fs.createWriteStream(logFile, { flags: "w" });
  log.write(rows.join("\n") + "\n");
  try {
    for (let step = start; step < end; step++) {
      // 1. learning rate for this step
      const lr = learningRate(step, { ...o.lr, totalSteps: o.totalSteps });
      // 2. loss and gradients over the batch (indices depend only on seed and step)
      const samples = o.samplesFor ? o.samplesFor(step) : batchIndices(o.seed, step, o.batchSize, o.datasetSize);
      const nonFinite = (loss: number) =>
        new NonFiniteError(`loss is ${loss} at step ${step + 1}: the last checkpoint is intact; lower the learning rate (now ${lr}) or check the data`);
      let loss: number;
      let norm: number;
      if (shared) {
        // 3-5 in the workers: clip, AdamW, EMA on their slices of the shared buffers
        loss = await shared.gradients(step, samples);
        if (!Number.isFinite(loss)) throw nonFinite(loss);
        norm = await shared.apply(lr, o.clipNorm ?? 0, opt.step + 1);
        opt.step++;
      } else {
        const r = await o.source.step(step, samples);
        loss = r.loss;
        const grads = r.grads;
        if (!Number.isFinite(loss)) {
          tf.dispose([...grads.values()]);
          throw nonFinite(loss);
        }
        // 3. clip, then 4. AdamW (decoupled weight decay), 5. EMA
        try {
          norm = clipByGlobalNorm(grads, o.clipNorm ?? 0);
          opt.apply(params, grads, lr);
        } finally {
          tf.dispose([...grads.values()]);
        }
        ema?.update(params);
        await o.source.sync(params);
      }
      // 6. log and checkpoint
      lastLoss = loss;
      const done = step + 1;
      log.write(`${done},${loss},${lr},${norm}${timed ? `,${((Date.now() - t0) / 1000).toFixed(2)}` : ""}\n`);
      if (!o.quiet) progress.tick(done, { loss, lr });
      if (done % o.checkpointEvery === 0 || done === o.totalSteps) {
        await shared?.pull(params, opt, ema);
        await saveCheckpoint(ckptDir, { step: done, components: o.components, optimizer: opt, ema, state: { config: o.config, loss, origin } });
      }
    }
  } finally {
    await new Promise<void>((r) => log.end(r));
    // the main thread's tensors hold the last update (an error leaves the last good one in the buffers)
    await shared?.pull(params, opt, ema);
    opt.dispose();
  }
  const seconds = (Date.now() - t0) / 1000;
  const stepsRun = Math.max(0, end - start);
  return { stepsRun, finalStep: end, lastLoss, seconds, samplesPerSecond: (stepsRun * o.batchSize) / seconds, ema, resumedFrom: latest?.step };
}
