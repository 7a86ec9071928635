/**
 * One worker of the bench's hardware-parallelism check: a warm 512² wasm matMul loop, started on a
 * signal so that every worker runs at the same time. Independent work with no exchange: N of these
 * against 1 is the most any data-parallel scheme can gain on this machine.
 */
import { parentPort, workerData } from "worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend";

async function main(): Promise<void> {
  const port = parentPort!;
  const { reps, size } = workerData as { reps: number; size: number };
  await initBackend({ prefer: "wasm", log: () => {} });
  const a = tf.randomNormal([size, size], 0, 1, "float32", 1);
  const b = tf.randomNormal([size, size], 0, 1, "float32", 2);
  for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
  port.postMessage({ ready: true });
  port.once("message", () => {
    const t0 = performance.now();
    // wasm kernels run synchronously: the product is done when matMul returns
    for (let i = 0; i < reps; i++) tf.matMul(a, b).dispose();
    port.postMessage({ ms: performance.now() - t0 });
  });
}

void main();
