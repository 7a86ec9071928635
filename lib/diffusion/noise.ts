/** Seeded noise for training, one draw per sample, so a batch's noise does not depend on how it is split. */
import * as tf from "@tensorflow/tfjs-core";
import { deriveSeed, Seed } from "../random";

/** Per-sample noise [samples, ...shape], derived from (seed, label, step, sample index): independent of how the batch is split. */
export function perSampleNoise(
  shape: [number, number, number],
  seed: Seed,
  label: string,
  step: number,
  samples: number[],
): tf.Tensor4D {
  return tf.tidy(
    () =>
      tf.concat(
        samples.map((s) => tf.randomNormal([1, ...shape], 0, 1, "float32", deriveSeed(seed, label, step, s))),
        0,
      ) as tf.Tensor4D,
  );
}
