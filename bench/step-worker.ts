/**
 * One worker of the bench's workload-parallelism check: a task's training step (loss and
 * gradients on its shard, lib/parallel/task) `reps` times on each "go" signal, so that every worker
 * runs at the same time, with no exchange between them; posts its time after each. N of these
 * against 1 bounds what data parallelism can gain on this workload here: what the cores share
 * (caches, memory bandwidth) without any averaging, update or weight traffic.
 */
import { parentPort, workerData } from "worker_threads";
import { initBackend } from "../lib/backend";
import type { TaskSetup } from "../lib/parallel/task";

async function main(): Promise<void> {
  const port = parentPort!;
  const { module, config, shard, reps } = workerData as {
    module: string;
    config: unknown;
    shard: unknown;
    reps: number;
  };
  await initBackend({ prefer: "wasm", log: () => {} });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const task = await (require(module) as { setup: TaskSetup }).setup(config);
  await task.lossAndGrads(shard);
  port.on("message", async () => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await task.lossAndGrads(shard);
    port.postMessage({ ms: performance.now() - t0 });
  });
  port.postMessage({ ready: true });
}

void main();
