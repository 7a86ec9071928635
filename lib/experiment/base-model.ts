/**
 * How good is the base model (issue: pretraining's must-show numbers): prompt following on held-out
 * captions, scored per prompted attribute by the evaluator, the diversity of class-prompt samples,
 * and two ceilings: the evaluator's agreement on the held-out renders themselves, and on those renders
 * after the model's own autoencoder (encode to the latent mean, decode): what a perfect U-Net could
 * reach through this autoencoder.
 */
import * as tf from "@tensorflow/tfjs-core";
import { loadStableDiffusion, StableDiffusion } from "../pipeline/stable-diffusion";
import { GenerateJob, ImageBatch, ImageGenerator } from "../pipeline/generator";
import { readPackedDataset, packedBatch, PackedDataset } from "../data/dataset";
import { loadEvaluator } from "../eval/weights";
import { computeMetrics, Evaluator } from "../eval/metrics";
import { predict } from "../eval/model";
import { parsePromptAttributes } from "../eval/prompt";
import { shareMeanCI, Estimate } from "../eval/stats";
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
  /** per attribute: asked, found in samples, in the real renders, in their autoencoder reconstructions; and what
   * the samples showed instead when they missed ("asked → seen": count), e.g. "glasses → none" */
  byAttribute: Record<
    string,
    { asked: number; samples: number; renders: number; reconstructions: number; misses: Record<string, number> }
  >;
  classDiversity: Estimate | null;
}

/** The base model's headline numbers for `dvc metrics show`: prompt following and class diversity (the ceilings stay in the report). */
export function baseModelHeadline(r: BaseModelReport): Record<string, number | null> {
  return { following: r.promptFollowing.mean, diversity: r.classDiversity?.mean ?? null };
}

export async function evaluateBaseModel(o: {
  model: string;
  testPack: string;
  evaluatorDir: string;
  count: number;
  classCount: number;
  steps: number;
  guidance: number;
  seed: number;
  workers?: number;
}): Promise<BaseModelReport> {
  const sd = loadStableDiffusion(o.model);
  const ev = loadEvaluator(o.evaluatorDir);
  const evaluator: Evaluator = { params: ev.params, config: ev.config };
  let generator: ImageGenerator | null = null;
  try {
    const pack = readPackedDataset(o.testPack);
    const n = Math.min(o.count, pack.count);
    const sampler = { steps: o.steps, guidance: o.guidance, scheduler: "ddim", spacing: "trailing" } as const;
    // the class prompt's batch first (the longest job: it runs beside the others), then one sample
    // per caption that asks for something, seeded by the caption's index
    const captions: { index: number; asked: Record<string, string> }[] = [];
    const jobs: GenerateJob[] = [
      { prompt: "a photo of person", count: o.classCount, seed: `${o.seed}/class`, ...sampler },
    ];
    for (let i = 0; i < n; i++) {
      const asked = parsePromptAttributes(pack.records[i].caption) as Record<string, string>;
      if (!Object.keys(asked).length) continue;
      captions.push({ index: i, asked });
      jobs.push({ prompt: pack.records[i].caption, seed: `${o.seed}/${i}`, ...sampler });
    }
    // per caption and prompted attribute: found in the sample, the real render, its reconstruction
    const found: { key: string; want: string; seen: string; render: boolean; recon: boolean }[][] = [];
    let cls: ImageBatch | null = null;
    generator = await ImageGenerator.open(o.model, { workers: o.workers });
    const progress = new Progress({
      label: `prompt following${generator.workers > 1 ? ` (${generator.workers} workers)` : ""}`,
      total: jobs.length,
    });
    let done = 0;
    await generator.run(jobs, async (j, images) => {
      if (j === 0) cls = images;
      else found[j - 1] = await scoreCaption(sd, evaluator, pack, captions[j - 1].index, captions[j - 1].asked, images);
      progress.tick(++done);
    });
    // tallied in caption order, whichever worker finished first
    const byAttribute: BaseModelReport["byAttribute"] = {};
    const share = (hits: boolean[]) => hits.filter(Boolean).length / hits.length;
    for (const f of found) {
      for (const { key, want, seen, render, recon } of f) {
        const a = (byAttribute[key] ??= { asked: 0, samples: 0, renders: 0, reconstructions: 0, misses: {} });
        a.asked++;
        if (seen === want) a.samples++;
        else a.misses[`${want} → ${seen}`] = (a.misses[`${want} → ${seen}`] ?? 0) + 1;
        a.renders += +render;
        a.reconstructions += +recon;
      }
    }
    const m = await computeMetrics(evaluator, cls!);
    return {
      prompts: found.length,
      promptFollowing: shareMeanCI(
        found.map((f) => share(f.map((x) => x.seen === x.want))),
        "following",
      ),
      promptFollowingCeiling: shareMeanCI(
        found.map((f) => share(f.map((x) => x.render))),
        "ceiling",
      ),
      promptFollowingAutoencoder: shareMeanCI(
        found.map((f) => share(f.map((x) => x.recon))),
        "autoencoder",
      ),
      byAttribute,
      classDiversity: m.metrics.diversity,
    };
  } finally {
    await generator?.close();
    sd.dispose();
    for (const v of ev.params.values()) v.dispose();
  }
}

/** Which of a caption's prompted attributes the evaluator finds in its sample, in its real render, and in that render through the autoencoder. */
async function scoreCaption(
  sd: StableDiffusion,
  evaluator: Evaluator,
  pack: PackedDataset,
  index: number,
  asked: Record<string, string>,
  sample: ImageBatch,
) {
  const [pSample] = await predict(evaluator.params, sample, evaluator.config.model);
  const real = packedBatch(pack, [index]);
  const [pReal] = await predict(evaluator.params, real, evaluator.config.model);
  const recon = tf.tidy(() => {
    const x = tf.tensor4d(real.data, real.shape);
    return tf.clipByValue(vaeDecode(sd.vae, sd.configs.vae, vaeEncode(sd.vae, sd.configs.vae, x).mean), -1, 1);
  });
  const reconData = (await recon.data()) as Float32Array;
  recon.dispose();
  const [pRecon] = await predict(evaluator.params, { data: reconData, shape: real.shape }, evaluator.config.model);
  return Object.entries(asked).map(([key, want]) => ({
    key,
    want,
    seen: pSample.attributes[key],
    render: pReal.attributes[key] === want,
    recon: pRecon.attributes[key] === want,
  }));
}
