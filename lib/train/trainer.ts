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
import type { GradientSource, StepShard } from "../parallel/source";

export { poolSource, type GradientSource, type SharedUpdateSource, type StepShard } from "../parallel/source";

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
export function learningRate(
  step: number,
  o: { lr: number; warmupSteps?: number; totalSteps: number; decay?: "constant" | "cosine"; minLr?: number },
): number {
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
      if (params.has(k))
        throw new Error(`parameter "${k}" appears in two trained components: give them distinct names`);
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
    process.stderr.write(
      `${o.label}: the checkpoint at step ${latest.step} in ${ckptDir} is not resumed (${why}); moved to ${stale}, starting over\n`,
    );
    latest = undefined;
  }
  const timed = o.logSeconds ?? true;
  let rows: string[] = [timed ? LOG_HEADER : LOG_HEADER_UNTIMED];
  if (latest) {
    restoreCheckpoint(latest.path, { components: o.components, optimizer: opt, ema });
    start = latest.step;
    if (fs.existsSync(logFile))
      rows = fs
        .readFileSync(logFile, "utf8")
        .trim()
        .split("\n")
        .filter((l, i) => i === 0 || Number(l.split(",")[0]) <= start);
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
        new NonFiniteError(
          `loss is ${loss} at step ${step + 1}: the last checkpoint is intact; lower the learning rate (now ${lr}) or check the data`,
        );
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
        await saveCheckpoint(ckptDir, {
          step: done,
          components: o.components,
          optimizer: opt,
          ema,
          state: { config: o.config, loss, origin },
        });
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
  return {
    stepsRun,
    finalStep: end,
    lastLoss,
    seconds,
    samplesPerSecond: (stepsRun * o.batchSize) / seconds,
    ema,
    resumedFrom: latest?.step,
  };
}
