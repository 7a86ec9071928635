/**
 * The worker-thread side of WorkerPool: start a tfjs backend, load the task module, then answer
 * messages one at a time. Gradients go back as transferred buffers (no copy).
 */
import { parentPort, workerData } from "worker_threads";
import { initBackend } from "../backend";
import { weightedSum, type ParallelTask, type TaskSetup } from "./task";
import { adamwCoefficients, clipAdamwEmaElements } from "../kernels/adamw";

export interface WorkerInit {
  module: string;
  config: unknown;
  backend: string;
}

export type Request =
  | { id: number; kind: "setWeights"; weights: Float32Array[] }
  | { id: number; kind: "step"; shard: unknown }
  | { id: number; kind: "getWeights" }
  | { id: number; kind: "share"; share: ShareInit }
  | { id: number; kind: "sharedStep"; shard: unknown; load: boolean }
  | { id: number; kind: "reduce"; weights: number[] }
  | { id: number; kind: "update"; update: SharedUpdate }
  | { id: number; kind: "call"; arg: unknown };

/** What one worker of a shared-update pool holds (lib/parallel/pool `WorkerPool.share`). */
export interface ShareInit {
  /** this worker's index: it writes its gradients into grads[index] */
  index: number;
  /** weights, AdamW moments, EMA shadow (or null) and one gradient buffer per worker: flat float32, params concatenated in exchange order */
  params: SharedArrayBuffer;
  m: SharedArrayBuffer;
  v: SharedArrayBuffer;
  ema: SharedArrayBuffer | null;
  grads: SharedArrayBuffer[];
  /** start of each parameter in the flat buffers */
  offsets: number[];
  sizes: number[];
  /** the elements [start, end) this worker reduces and updates */
  range: [number, number];
  optimizer: SharedOptimizerConfig;
}

export interface SharedOptimizerConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** EMA decay, when the shadow is kept */
  emaDecay?: number;
}

export interface SharedUpdate {
  lr: number;
  /** AdamW step number t (1 for the first update): bias corrections 1 − βᵗ */
  t: number;
  /** clip factor applied to the averaged gradient, or null */
  scale: number | null;
}

/** The views a shared-update worker works on. */
class Shared {
  readonly params: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly ema: Float32Array | null;
  readonly grads: Float32Array[];
  constructor(readonly init: ShareInit) {
    this.params = new Float32Array(init.params);
    this.m = new Float32Array(init.m);
    this.v = new Float32Array(init.v);
    this.ema = init.ema ? new Float32Array(init.ema) : null;
    this.grads = init.grads.map((b) => new Float32Array(b));
  }

  /** The weights as one view per parameter (copied, off wasm, since other backends may keep the array). */
  weights(copy: boolean): Float32Array[] {
    return this.init.offsets.map((o, j) =>
      copy ? this.params.slice(o, o + this.init.sizes[j]) : this.params.subarray(o, o + this.init.sizes[j]),
    );
  }

  writeGrads(grads: Float32Array[]): void {
    const out = this.grads[this.init.index];
    grads.forEach((g, j) => out.set(g, this.init.offsets[j]));
  }

  /** grads[0] ← the weighted average of every worker's gradients, over this worker's range (as `averageShards`). */
  reduce(weights: number[]): void {
    const [lo, hi] = this.init.range;
    weightedSum(this.grads, weights, this.grads[0], lo, hi);
  }

  /**
   * Clip, AdamW and EMA over this worker's range in one pass of lib/kernels/adamw's fused loop (the
   * arithmetic of its separate element loops, clipping as a float32 multiply like tf.mul), so a shared
   * update gives the bytes the main-thread optimizer gives.
   */
  update(u: SharedUpdate): void {
    const [lo, hi] = this.init.range;
    const { params: p, m, v, ema } = this;
    const decay = this.init.optimizer.emaDecay;
    const shadow = ema && decay !== undefined ? { shadow: ema, decay } : null;
    clipAdamwEmaElements(
      p,
      m,
      v,
      this.grads[0],
      lo,
      hi,
      adamwCoefficients(this.init.optimizer, u.lr, u.t),
      u.scale ?? 1,
      shadow,
    );
  }
}

/** The buffers of the typed arrays in `value` (itself, its array items or its properties, one level deep) that own them whole: transferable. */
function ownBuffers(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const visit = (v: unknown) => {
    if (
      ArrayBuffer.isView(v) &&
      v.buffer instanceof ArrayBuffer &&
      v.byteOffset === 0 &&
      v.byteLength === v.buffer.byteLength
    )
      out.add(v.buffer);
  };
  visit(value);
  if (value && typeof value === "object") for (const v of Array.isArray(value) ? value : Object.values(value)) visit(v);
  return [...out];
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("lib/parallel/worker runs inside a worker thread (use WorkerPool)");
  const init = workerData as WorkerInit;
  let task: ParallelTask;
  try {
    await initBackend({ prefer: init.backend, log: () => {} });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(init.module) as { setup?: TaskSetup };
    if (typeof mod.setup !== "function") throw new Error(`task module ${init.module} does not export setup(config)`);
    task = await mod.setup(init.config);
    port.postMessage({ id: -1, ok: true, params: task.params });
  } catch (e) {
    port.postMessage({ id: -1, ok: false, error: String((e as Error)?.stack ?? e) });
    return;
  }
  let shared: Shared | null = null;
  const needShared = (): Shared => {
    if (!shared) throw new Error("this worker has no shared buffers: call WorkerPool.share first");
    return shared;
  };
  const copyWeights = init.backend !== "wasm";
  port.on("message", async (req: Request) => {
    try {
      if (req.kind === "share") {
        shared = new Shared(req.share);
        port.postMessage({ id: req.id, ok: true });
      } else if (req.kind === "sharedStep") {
        const sh = needShared();
        const t0 = performance.now();
        if (req.load) task.setWeights(sh.weights(copyWeights));
        const t1 = performance.now();
        let r: { loss: number; count: number };
        if (task.lossAndGradsInto) {
          r = await task.lossAndGradsInto(req.shard, sh.grads[sh.init.index], sh.init.offsets);
        } else {
          const full = await task.lossAndGrads(req.shard);
          sh.writeGrads(full.grads);
          r = full;
        }
        port.postMessage({
          id: req.id,
          ok: true,
          result: { loss: r.loss, count: r.count, grads: [] },
          timing: { loadMs: t1 - t0, computeMs: performance.now() - t1 },
        });
      } else if (req.kind === "reduce") {
        needShared().reduce(req.weights);
        port.postMessage({ id: req.id, ok: true });
      } else if (req.kind === "update") {
        needShared().update(req.update);
        port.postMessage({ id: req.id, ok: true });
      } else if (req.kind === "call") {
        if (!task.call) throw new Error(`task module ${init.module} has no call(arg)`);
        const value = await task.call(req.arg);
        port.postMessage({ id: req.id, ok: true, value }, ownBuffers(value));
      } else if (req.kind === "setWeights") {
        task.setWeights(req.weights);
        port.postMessage({ id: req.id, ok: true });
      } else if (req.kind === "getWeights") {
        const w = await task.getWeights();
        port.postMessage(
          { id: req.id, ok: true, weights: w },
          w.map((a) => a.buffer as ArrayBuffer),
        );
      } else {
        const r = await task.lossAndGrads(req.shard);
        port.postMessage(
          { id: req.id, ok: true, result: r },
          r.grads.map((g) => g.buffer as ArrayBuffer),
        );
      }
    } catch (e) {
      port.postMessage({ id: req.id, ok: false, error: String((e as Error)?.stack ?? e) });
    }
  });
}

void main();
