/** A ParallelTask over live tf.Variables and a loss function: the part every training task shares. */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { ParallelTask, ShardResult } from "./task";

/**
 * `vars` in exchange order (name, variable); `loss(shard)` the scalar whose gradients are taken (call
 * it inside nothing: it runs under tf.variableGrads); `count(shard)` the shard's weight in the average.
 */
export function variableTask<Shard>(
  vars: [string, tf.Variable][],
  loss: (shard: Shard) => tf.Scalar,
  count: (shard: Shard) => number,
): ParallelTask<Shard> {
  const list = vars.map(([, v]) => v);
  return {
    params: vars.map(([name, v]) => ({ name, shape: v.shape })),
    setWeights(weights) {
      list.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(weights[i], v.shape))));
    },
    async getWeights() {
      return Promise.all(list.map(async (v) => Float32Array.from((await v.data()) as Float32Array)));
    },
    async lossAndGrads(shard): Promise<ShardResult> {
      const { value, grads } = tf.variableGrads(() => loss(shard), list);
      const l = (await value.data())[0];
      const out = await Promise.all(
        list.map(async (v) => Float32Array.from((await grads[v.name].data()) as Float32Array)),
      );
      tf.dispose([value, ...Object.values(grads)]);
      return { loss: l, count: count(shard), grads: out };
    },
    async lossAndGradsInto(shard, out, offsets) {
      const { value, grads } = tf.variableGrads(() => loss(shard), list);
      try {
        const l = (await value.data())[0];
        const wasm = tf.getBackend() === "wasm" ? (tf.backend() as BackendWasm) : null;
        for (const [j, v] of list.entries()) {
          const g = grads[v.name];
          // on wasm, a view of the gradient's own memory (it is read before anything else runs)
          out.set(wasm ? (wasm.typedArrayFromHeap(g) as Float32Array) : ((await g.data()) as Float32Array), offsets[j]);
        }
        return { loss: l, count: count(shard) };
      } finally {
        tf.dispose([value, ...Object.values(grads)]);
      }
    },
  };
}
