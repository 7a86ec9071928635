/**
 * Data parallelism over worker threads. The tfjs wasm backend runs one thread per process in
 * Node (its multi-threaded build spawns workers from a blob URL, which Node cannot), so every core
 * gets its own worker with its own tfjs + wasm. One step: each worker computes loss and gradients
 * on its shard; the main thread averages them in worker order (deterministic for a fixed worker
 * count) and applies the optimizer; the new weights go back to every worker.
 */
import * as os from "os";
import * as path from "path";
import { ResourceLimits, Worker } from "worker_threads";
import { averageShards, ParamInfo, ShardResult, splitRange } from "./task";
import type { Request, SharedOptimizerConfig, SharedUpdate, WorkerInit } from "./worker";

export type { SharedOptimizerConfig, SharedUpdate } from "./worker";

/** The main thread's views of a shared-update pool's buffers (see `WorkerPool.share`). */
export interface SharedState {
  /** weights, AdamW moments and EMA shadow, params concatenated in `pool.params` order */
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  ema: Float32Array | null;
  /** the averaged gradient after `sharedGradients` */
  grads: Float32Array;
  offsets: number[];
  sizes: number[];
}

export interface PoolOptions {
  /** Absolute path of the task module (.ts under tsx, .js once built); it exports setup(config). */
  module: string;
  /** Passed to setup() in every worker (structured-cloned). */
  config?: unknown;
  /** Number of workers (default: os.availableParallelism()). */
  size?: number;
  /** Backend each worker uses (default "wasm"). */
  backend?: string;
  /** V8 heap limits of each worker thread (Node's `resourceLimits`; default: Node's). */
  resourceLimits?: ResourceLimits;
  /**
   * oneDNN threads in each worker where the wasm kernels run on it (lib/kernels/native; default: the
   * cores shared out, at least 1, so that workers × threads never exceeds the cores).
   */
  nativeThreads?: number;
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
type Reply = {
  id: number;
  ok: boolean;
  error?: string;
  result?: ShardResult;
  weights?: Float32Array[];
  params?: ParamInfo[];
  value?: unknown;
  timing?: StepTiming;
};

/** Where a shared step's time went, in the slowest worker (milliseconds). */
export interface StepTiming {
  /** loading the updated weights into the task */
  loadMs: number;
  /** the task's loss and gradients, written into shared memory */
  computeMs: number;
}

/**
 * How to start a worker: the compiled worker.js directly, or (under tsx, or for a .ts task) a
 * bootstrap that registers tsx's CommonJS hook first (Node refuses a .ts worker file even with
 * `--import tsx` in execArgv: ERR_UNKNOWN_FILE_EXTENSION).
 */
function workerSource(taskModule: string): { source: string; eval: boolean } {
  const ts = __filename.endsWith(".ts");
  const file = path.join(__dirname, ts ? "worker.ts" : "worker.js");
  if (!ts && !taskModule.endsWith(".ts")) return { source: file, eval: false };
  return { source: `require("tsx/cjs"); require(${JSON.stringify(file)});`, eval: true };
}

export class WorkerPool {
  readonly size: number;
  params: ParamInfo[] = [];
  private workers: Worker[] = [];
  /** set by `share`: the buffers every worker updates in place */
  shared: SharedState | null = null;
  /** the workers' weights are older than shared.params (an update ran since they loaded) */
  private stale = false;
  private pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;

  private constructor(size: number) {
    this.size = size;
  }

  /** Start the workers and wait until each has loaded the task. */
  static async start(opts: PoolOptions): Promise<WorkerPool> {
    if (!path.isAbsolute(opts.module))
      throw new Error(`WorkerPool: module must be an absolute path, got "${opts.module}" (use path.resolve)`);
    const size = opts.size ?? os.availableParallelism();
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`WorkerPool: size must be a positive integer, got ${size}`);
    const pool = new WorkerPool(size);
    const { source, eval: evalSource } = workerSource(opts.module);
    const nativeThreads = opts.nativeThreads ?? Math.max(1, Math.floor(os.availableParallelism() / size));
    if (!Number.isInteger(nativeThreads) || nativeThreads < 1) {
      throw new Error(`WorkerPool: nativeThreads must be a positive integer, got ${nativeThreads}`);
    }
    const env = { ...process.env, DREAMBOOTH_NATIVE_THREADS: String(nativeThreads) };
    const init: WorkerInit = { module: opts.module, config: opts.config ?? null, backend: opts.backend ?? "wasm" };
    const ready: Promise<Reply>[] = [];
    for (let i = 0; i < size; i++) {
      const w = new Worker(source, { workerData: init, eval: evalSource, resourceLimits: opts.resourceLimits, env });
      pool.workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          const onReady = (m: Reply) => {
            if (m.id !== -1) return;
            w.off("message", onReady);
            if (m.ok) resolve(m);
            else reject(new Error(`worker ${i} failed to start: ${m.error}`));
          };
          w.on("message", onReady);
          w.once("error", reject);
        }),
      );
      w.on("message", (m: Reply) => pool.settle(m));
      w.on("error", (e) => pool.failAll(e));
    }
    try {
      const replies = await Promise.all(ready);
      pool.params = replies[0].params ?? [];
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private settle(m: Reply): void {
    if (m.id < 0) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m);
    else p.reject(new Error(m.error));
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private request(worker: number, req: DistributiveOmit<Request, "id">, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[worker].postMessage({ ...req, id }, transfer);
    });
  }

  /** Send the same weights to every worker (each gets a copy). */
  async setWeights(weights: Float32Array[]): Promise<void> {
    await Promise.all(this.workers.map((_, i) => this.request(i, { kind: "setWeights", weights })));
  }

  /** Weights held by one worker (all hold the same after setWeights). */
  async getWeights(worker = 0): Promise<Float32Array[]> {
    return (await this.request(worker, { kind: "getWeights" })).weights!;
  }

  /** The task's `call(arg)` on one worker. */
  async call<R = unknown>(worker: number, arg: unknown): Promise<R> {
    if (!Number.isInteger(worker) || worker < 0 || worker >= this.size)
      throw new Error(`WorkerPool.call: worker ${worker} is not one of 0..${this.size - 1}`);
    return (await this.request(worker, { kind: "call", arg })).value as R;
  }

  /**
   * The task's `call` on every argument, spread over the workers (each takes the next argument as
   * soon as it is free). Results come back in argument order; `onResult` sees each as it arrives.
   * The first error stops handing out arguments and is thrown once the running calls end.
   */
  async map<T, R = unknown>(args: T[], onResult?: (index: number, result: R) => void | Promise<void>): Promise<R[]> {
    const results: R[] = new Array(args.length);
    let next = 0;
    let failed: unknown = null;
    const lane = async (worker: number) => {
      while (failed === null && next < args.length) {
        const i = next++;
        try {
          results[i] = await this.call<R>(worker, args[i]);
          if (onResult) await onResult(i, results[i]);
        } catch (e) {
          failed ??= e;
        }
      }
    };
    await Promise.all(this.workers.map((_, w) => lane(w)));
    if (failed !== null) throw failed;
    return results;
  }

  /** Loss and gradients of each shard (shard i on worker i mod size), in shard order. */
  async shardGradients(shards: unknown[]): Promise<ShardResult[]> {
    if (shards.length > this.size)
      throw new Error(
        `WorkerPool: ${shards.length} shards for ${this.size} workers; give at most one shard per worker`,
      );
    const replies = await Promise.all(shards.map((shard, i) => this.request(i, { kind: "step", shard })));
    return replies.map((r) => r.result!);
  }

  /** The full-batch loss and gradient: shard results averaged in shard order, weighted by sample count. */
  async lossAndGrads(shards: unknown[]): Promise<ShardResult> {
    return averageShards(await this.shardGradients(shards));
  }

  /**
   * Shared-update mode (ZeRO-1 style, on one machine): weights, AdamW moments, EMA shadow and
   * every worker's gradients live in SharedArrayBuffers. A step: each worker writes its shard's
   * gradients (`sharedGradients`); each reduces its slice of the elements to the weighted average;
   * the main thread takes the global norm; each worker applies clip, AdamW and EMA to its slice
   * (`sharedApply`); before the next step each worker loads the new weights. Nothing is
   * structured-cloned, and the element-wise work is split over the workers instead of running on
   * the main thread while they wait. The buffers start at zero: write the initial weights (and any
   * restored moments and shadow) into `shared` before the first step.
   */
  async share(optimizer: SharedOptimizerConfig, opts: { ema: boolean }): Promise<SharedState> {
    const sizes = this.params.map((p) => p.shape.reduce((a, b) => a * b, 1));
    const offsets: number[] = [];
    let total = 0;
    for (const n of sizes) {
      offsets.push(total);
      total += n;
    }
    const buf = () => new SharedArrayBuffer(4 * total);
    const params = buf();
    const m = buf();
    const v = buf();
    const ema = opts.ema ? buf() : null;
    const grads = this.workers.map(buf);
    const ranges = splitRange(Math.max(total, 1), this.size);
    await Promise.all(
      this.workers.map((_, i) =>
        this.request(i, {
          kind: "share",
          share: { index: i, params, m, v, ema, grads, offsets, sizes, range: ranges[i] ?? [total, total], optimizer },
        }),
      ),
    );
    this.shared = {
      params: new Float32Array(params),
      m: new Float32Array(m),
      v: new Float32Array(v),
      ema: ema ? new Float32Array(ema) : null,
      grads: new Float32Array(grads[0]),
      offsets,
      sizes,
    };
    this.stale = true;
    return this.shared;
  }

  /** The weights in `shared.params` were changed from outside: the workers load them before their next step. */
  markStale(): void {
    this.stale = true;
  }

  /**
   * Loss of the whole batch (shard losses weighted by sample count, in shard order) and, in
   * `shared.grads`, its averaged gradient: each worker computes its shard, then reduces its slice.
   */
  async sharedGradients(shards: unknown[]): Promise<{ loss: number; count: number; timing: StepTiming }> {
    if (!this.shared) throw new Error("WorkerPool.sharedGradients: call share() first");
    if (shards.length !== this.size)
      throw new Error(
        `WorkerPool.sharedGradients: ${shards.length} shards for ${this.size} workers; give exactly one shard per worker`,
      );
    const load = this.stale;
    const replies = await Promise.all(shards.map((shard, i) => this.request(i, { kind: "sharedStep", shard, load })));
    this.stale = false;
    const counts = replies.map((r) => r.result!.count);
    const total = counts.reduce((a, b) => a + b, 0);
    const weights = counts.map((c) => c / total);
    let loss = 0;
    replies.forEach((r, i) => (loss += weights[i] * r.result!.loss));
    await Promise.all(this.workers.map((_, i) => this.request(i, { kind: "reduce", weights })));
    const timing = {
      loadMs: Math.max(...replies.map((r) => r.timing?.loadMs ?? 0)),
      computeMs: Math.max(...replies.map((r) => r.timing?.computeMs ?? 0)),
    };
    return { loss, count: total, timing };
  }

  /** Clip, AdamW and EMA on every worker's slice; the workers load the result before their next step. */
  async sharedApply(update: SharedUpdate): Promise<void> {
    if (!this.shared) throw new Error("WorkerPool.sharedApply: call share() first");
    await Promise.all(this.workers.map((_, i) => this.request(i, { kind: "update", update })));
    this.stale = true;
  }

  /** Stop every worker. */
  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/**
 * One data-parallel training step: gradients on the shards, averaged; `update` turns (weights,
 * averaged grads) into new weights on the main thread; every worker gets them. Returns the loss.
 */
export async function dataParallelStep(
  pool: WorkerPool,
  weights: Float32Array[],
  shards: unknown[],
  update: (weights: Float32Array[], grads: Float32Array[]) => Float32Array[],
): Promise<{ loss: number; weights: Float32Array[] }> {
  const avg = await pool.lossAndGrads(shards);
  const next = update(weights, avg.grads);
  await pool.setWeights(next);
  return { loss: avg.loss, weights: next };
}
