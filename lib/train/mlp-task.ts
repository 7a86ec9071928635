/**
 * A two-layer perceptron on a fixed regression problem as a data-parallel training task: the test
 * subject of the trainer's worker-pool paths. Everything (data, per-sample noise, the poisoned step)
 * is a function of the config, the step and the sample index, so any split of a batch over workers
 * computes the same thing.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParallelTask } from "../parallel/task";
import { variableTask } from "../parallel/variable-task";
import type { StepShard } from "./trainer";
import { deriveSeed } from "../random";

export interface MlpTaskConfig {
  seed: number;
  /** dataset size */
  samples: number;
  inputs: number;
  hidden: number;
  /** a step whose loss is NaN (to test the non-finite path), or -1 */
  nanAtStep: number;
}

export const MLP_PARAMS = (c: MlpTaskConfig) => [
  { name: "w1", shape: [c.inputs, c.hidden] },
  { name: "b1", shape: [c.hidden] },
  { name: "w2", shape: [c.hidden, 1] },
  { name: "b2", shape: [1] },
];

export function initialWeights(c: MlpTaskConfig): Float32Array[] {
  return MLP_PARAMS(c).map((p, i) => tf.tidy(() => tf.randomNormal(p.shape, 0, 0.5, "float32", deriveSeed(c.seed, "init", i)).dataSync() as Float32Array));
}

export function setup(c: MlpTaskConfig): ParallelTask<StepShard> {
  const X = tf.randomNormal([c.samples, c.inputs], 0, 1, "float32", deriveSeed(c.seed, "x"));
  const Y = tf.tidy(() => tf.sin(tf.sum(X, 1, true)));
  const w0 = initialWeights(c);
  const vars = MLP_PARAMS(c).map((p, i) => [p.name, tf.variable(tf.tensor(w0[i], p.shape), true, `mlp_${p.name}_${Math.random()}`)] as [string, tf.Variable]);
  const v = new Map(vars);
  return variableTask(
    vars,
    (shard) =>
      tf.tidy(() => {
        const idx = tf.tensor1d(shard.samples, "int32");
        const noise = tf.concat(shard.samples.map((s) => tf.randomNormal([1, 1], 0, 0.05, "float32", deriveSeed(c.seed, "noise", shard.step, s))), 0);
        const h = tf.relu(tf.add(tf.matMul(tf.gather(X, idx), v.get("w1")!), v.get("b1")!));
        const pred = tf.add(tf.matMul(h, v.get("w2")!), v.get("b2")!);
        // the mean over the shard; the pool weights shards by sample count
        const loss = tf.mean(tf.squaredDifference(pred, tf.add(tf.gather(Y, idx), noise)));
        return (shard.step === c.nanAtStep ? tf.mul(loss, NaN) : loss) as tf.Scalar;
      }),
    (shard) => shard.samples.length,
  );
}
