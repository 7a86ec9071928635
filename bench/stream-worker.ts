/**
 * One worker of the bench's memory-bandwidth check: copies a buffer far larger than the caches
 * `reps` times on the "go" signal and posts its time. N of these against 1 shows how much of the
 * memory bus the cores share, which bounds the memory-bound part of any data-parallel step.
 */
import { parentPort, workerData } from "worker_threads";

const port = parentPort!;
const { reps, mb } = workerData as { reps: number; mb: number };
const n = (mb * 2 ** 20) / 4;
const src = new Float32Array(n).fill(1);
const dst = new Float32Array(n);
for (let i = 0; i < 2; i++) dst.set(src);
port.postMessage({ ready: true });
port.once("message", () => {
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) dst.set(src);
  port.postMessage({ ms: performance.now() - t0 });
});
