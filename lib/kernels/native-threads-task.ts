/**
 * A worker-pool task (lib/parallel/task) that reports how the oneDNN kernels are set up in its
 * worker thread: its `call` returns the addon's thread count there (null without the addon). The
 * tests use it to check that a pool shares the cores out among its workers.
 */
import type { ParallelTask } from "../parallel/task";
import { oneDnnAddon } from "./native";

export function setup(): ParallelTask {
  return {
    params: [],
    setWeights: () => {},
    getWeights: () => [],
    lossAndGrads: () => ({ loss: 0, count: 0, grads: [] }),
    call: () => ({ threads: oneDnnAddon()?.getThreads() ?? null }),
  };
}
