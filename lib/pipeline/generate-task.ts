/**
 * The worker side of `ImageGenerator`: each worker thread loads the model folder once and runs
 * `generate` for the jobs it is handed, returning the images as raw floats.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParallelTask } from "../parallel/task";
import { generate, GenerateOptions, loadStableDiffusion } from "./stable-diffusion";

/** What a job may say: `generate`'s options that survive being sent to a worker (no callbacks, no schedule object). */
export type GenerateJob = Omit<GenerateOptions, "onStep" | "schedule">;

/** Images [n, H, W, 3] in [−1, 1], as raw floats. */
export interface ImageBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

export function setup(config: { model: string }): ParallelTask {
  const sd = loadStableDiffusion(config.model);
  return {
    params: [],
    setWeights: () => {
      throw new Error("the image generator has no trainable weights");
    },
    getWeights: () => [],
    lossAndGrads: () => {
      throw new Error("the image generator does not train");
    },
    async call(arg: unknown): Promise<ImageBatch> {
      const images = await generate(sd, arg as GenerateJob);
      try {
        return { data: (await images.data()) as Float32Array, shape: images.shape as ImageBatch["shape"] };
      } finally {
        tf.dispose(images);
      }
    },
  };
}
