/**
 * The worker-thread side of WorkerPool: start a tfjs backend, load the task module, then answer
 * messages one at a time. Gradients go back as transferred buffers (no copy).
 */
import { parentPort, workerData } from "worker_threads";
import { initBackend } from "../backend";
import type { ParallelTask, TaskSetup } from "./task";

export interface WorkerInit {
  module: string;
  config: unknown;
  backend: string;
}

export type Request = { id: number; kind: "setWeights"; weights: Float32Array[] } | { id: number; kind: "step"; shard: unknown } | { id: number; kind: "getWeights" };

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
  port.on("message", async (req: Request) => {
    try {
      if (req.kind === "setWeights") {
        task.setWeights(req.weights);
        port.postMessage({ id: req.id, ok: true });
      } else if (req.kind === "getWeights") {
        const w = await task.getWeights();
        port.postMessage({ id: req.id, ok: true, weights: w }, w.map((a) => a.buffer as ArrayBuffer));
      } else {
        const r = await task.lossAndGrads(req.shard);
        port.postMessage({ id: req.id, ok: true, result: r }, r.grads.map((g) => g.buffer as ArrayBuffer));
      }
    } catch (e) {
      port.postMessage({ id: req.id, ok: false, error: String((e as Error)?.stack ?? e) });
    }
  });
}

void main();
