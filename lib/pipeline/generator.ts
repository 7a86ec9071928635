/**
 * Many `generate` calls over all cores. On the host backends (wasm, cpu) one process computes on one
 * core, so independent images go to worker threads, each with its own copy of the model; on a GPU
 * backend they run in this process. Each job is computed exactly as `generate` computes it here (same
 * backend, same batch, same seed), so the images are the same bytes whichever worker makes them.
 */
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { WorkerPool } from "../parallel/pool";
import { generate, loadStableDiffusion } from "./stable-diffusion";
import type { GenerateJob, ImageBatch } from "./generate-task";

export type { GenerateJob, ImageBatch } from "./generate-task";

/** Worker threads by default: every core on the host backends, none (this process) on the others. */
export function defaultGeneratorWorkers(): number {
  return ["wasm", "cpu"].includes(tf.getBackend()) ? os.availableParallelism() : 0;
}

export class ImageGenerator {
  private constructor(
    readonly model: string,
    private readonly pool: WorkerPool | null,
  ) {}

  /** Number of worker threads in use (0: this process). */
  get workers(): number {
    return this.pool?.size ?? 0;
  }

  /** `workers` 0 or 1 runs the jobs in this process; more starts that many threads on the current backend. */
  static async open(model: string, opts: { workers?: number } = {}): Promise<ImageGenerator> {
    const workers = opts.workers ?? defaultGeneratorWorkers();
    if (!Number.isInteger(workers) || workers < 0)
      throw new Error(`ImageGenerator: workers must be a whole number ≥ 0, got ${workers}`);
    if (workers <= 1) return new ImageGenerator(model, null);
    const backend = tf.getBackend();
    if (!["wasm", "cpu"].includes(backend))
      throw new Error(
        `ImageGenerator: worker threads sample on the wasm and cpu backends; on ${backend} use 0 workers (this process)`,
      );
    const ext = __filename.endsWith(".ts") ? ".ts" : ".js";
    const pool = await WorkerPool.start({
      module: path.join(__dirname, `generate-task${ext}`),
      config: { model: path.resolve(model) },
      size: workers,
      backend,
    });
    return new ImageGenerator(model, pool);
  }

  /**
   * Runs every job; `onResult(i, images)` sees job i's images as soon as they exist (in any order on
   * workers, in job order in-process). Returns when all are done.
   */
  async run(jobs: GenerateJob[], onResult: (index: number, images: ImageBatch) => void | Promise<void>): Promise<void> {
    if (this.pool) {
      await this.pool.map<GenerateJob, ImageBatch>(jobs, onResult);
      return;
    }
    const sd = loadStableDiffusion(this.model);
    try {
      for (const [i, job] of jobs.entries()) {
        const images = await generate(sd, job);
        const batch: ImageBatch = {
          data: (await images.data()) as Float32Array,
          shape: images.shape as ImageBatch["shape"],
        };
        images.dispose();
        await onResult(i, batch);
      }
    } finally {
      sd.dispose();
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
