/**
 * How good is the base model (issue: pretraining's must-show numbers): prompt following on held-out
 * captions, scored per prompted attribute by the evaluator, the diversity of class-prompt samples,
 * and two ceilings: the evaluator's agreement on the held-out renders themselves, and on those renders
 * after the model's own autoencoder (encode to the latent mean, decode): what a perfect U-Net could
 * reach through this autoencoder.
 */
import * as tf from "@tensorflow/tfjs-core";
import { loadStableDiffusion, generate } from "../pipeline/stable-diffusion";
import { readPackedDataset, packedBatch } from "../data/dataset";
import { loadEvaluator } from "../eval/weights";
import { computeMetrics, Evaluator } from "../eval/metrics";
import { predict } from "../eval/model";
import { parsePromptAttributes } from "../eval/prompt";
import { meanCI, Estimate } from "../eval/stats";
import { Progress } from "../train/progress";
import { vaeDecode, vaeEncode } from "../models/vae";

export interface BaseModelReport {
  prompts: number;
  /** share of the prompted attributes the evaluator finds in the generated images */
  promptFollowing: Estimate;
  /** the same share on the real held-out renders of those captions (what a perfect generator would score, given the evaluator's errors) */
  promptFollowingCeiling: Estimate;
  /** the same share on the renders passed through the model's autoencoder (the ceiling of any U-Net on it) */
  promptFollowingAutoencoder: Estimate;
  /** per attribute: asked, found in samples, in the real renders, in their autoencoder reconstructions */
  byAttribute: Record<string, { asked: number; samples: number; renders: number; reconstructions: number }>;
  classDiversity: Estimate | null;
}

export async function evaluateBaseModel(o: { model: string; testPack: string; evaluatorDir: string; count: number; classCount: number; steps: number; guidance: number; seed: number; batch?: number }): Promise<BaseModelReport> {
  const sd = loadStableDiffusion(o.model);
  const ev = loadEvaluator(o.evaluatorDir);
  const evaluator: Evaluator = { params: ev.params, config: ev.config };
  try {
    const pack = readPackedDataset(o.testPack);
    const n = Math.min(o.count, pack.count);
    const byAttribute: BaseModelReport["byAttribute"] = {};
    const sampleScores: number[] = [];
    const renderScores: number[] = [];
    const reconScores: number[] = [];
    const batch = o.batch ?? 8;
    const progress = new Progress({ label: "prompt following", total: n });
    for (let s = 0; s < n; s += batch) {
      const idx = Array.from({ length: Math.min(batch, n - s) }, (_, i) => s + i);
      // one caption per image: generate one sample per caption, seeded by its index
      for (const i of idx) {
        const caption = pack.records[i].caption;
        const asked = parsePromptAttributes(caption);
        const keys = Object.keys(asked);
        if (!keys.length) continue;
        const img = await generate(sd, { prompt: caption, seed: `${o.seed}/${i}`, steps: o.steps, guidance: o.guidance, scheduler: "ddim", spacing: "trailing" });
        const data = (await img.data()) as Float32Array;
        const shape = img.shape as [number, number, number, number];
        img.dispose();
        const [pSample] = await predict(evaluator.params, { data, shape }, evaluator.config.model);
        const real = packedBatch(pack, [i]);
        const [pReal] = await predict(evaluator.params, real, evaluator.config.model);
        const recon = tf.tidy(() => {
          const x = tf.tensor4d(real.data, real.shape);
          return tf.clipByValue(vaeDecode(sd.vae, sd.configs.vae, vaeEncode(sd.vae, sd.configs.vae, x).mean), -1, 1);
        });
        const reconData = (await recon.data()) as Float32Array;
        recon.dispose();
        const [pRecon] = await predict(evaluator.params, { data: reconData, shape: real.shape }, evaluator.config.model);
        let hitS = 0;
        let hitR = 0;
        let hitA = 0;
        for (const k of keys) {
          const want = (asked as Record<string, string>)[k];
          const a = (byAttribute[k] ??= { asked: 0, samples: 0, renders: 0, reconstructions: 0 });
          a.asked++;
          if (pSample.attributes[k] === want) (a.samples++, hitS++);
          if (pReal.attributes[k] === want) (a.renders++, hitR++);
          if (pRecon.attributes[k] === want) (a.reconstructions++, hitA++);
        }
        sampleScores.push(hitS / keys.length);
        renderScores.push(hitR / keys.length);
        reconScores.push(hitA / keys.length);
      }
      progress.tick(Math.min(s + batch, n));
    }
    const cls = await generate(sd, { prompt: "a photo of person", count: o.classCount, seed: `${o.seed}/class`, steps: o.steps, guidance: o.guidance, scheduler: "ddim", spacing: "trailing" });
    const clsData = (await cls.data()) as Float32Array;
    const clsShape = cls.shape as [number, number, number, number];
    cls.dispose();
    const m = await computeMetrics(evaluator, { data: clsData, shape: clsShape });
    return { prompts: sampleScores.length, promptFollowing: meanCI(sampleScores), promptFollowingCeiling: meanCI(renderScores), promptFollowingAutoencoder: meanCI(reconScores), byAttribute, classDiversity: m.metrics.diversity };
  } finally {
    sd.dispose();
    for (const v of ev.params.values()) v.dispose();
  }
}
