/**
 * `dreambooth score`: every image of a samples folder scored once — identity (embedding cosine and the
 * identity attributes shared with the subject), the asked-for attributes found, luminance, dark pixels
 * and sharpness against the instance photos — so the comparison can pair images across models.
 */
import * as fs from "fs";
import * as path from "path";
import { cosine, identityAgreement, promptFidelity, readImageSet, readSubject, type Evaluator } from "../eval/metrics";
import { parsePromptAttributes } from "../eval/prompt";
import { predict } from "../eval/model";
import { loadEvaluator } from "../eval/weights";
import { disposeParams } from "../models/init";
import { imageQuality, relativeSharpness } from "../eval/quality";
import type { ExperimentPrompt } from "./experiment";
import type { ImageScore, ScoreFile } from "./measures";

/** Scores every image `dreambooth samples` wrote into `samples` (its prompts.json names them). */
export async function scoreSamples(samples: string, subjectDir: string, evaluatorDir: string): Promise<ScoreFile> {
  const metaFile = path.join(samples, "prompts.json");
  if (!fs.existsSync(metaFile))
    throw new Error(`${metaFile} is missing: ${samples} is not a folder \`dreambooth samples\` wrote`);
  const meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as { prompts: ExperimentPrompt[] };
  const ev = loadEvaluator(evaluatorDir);
  const evaluator: Evaluator = { params: ev.params, config: ev.config };
  try {
    const subject = await readSubject(evaluator, subjectDir);
    const instances = await readImageSet(subjectDir);
    const reference = imageQuality(instances.data, instances.shape);
    const refVar = reference.reduce((a, q) => a + q.laplacianVariance, 0) / reference.length;
    const images: ImageScore[] = [];
    for (const p of meta.prompts) {
      const set = await readImageSet(path.join(samples, p.id));
      const preds = await predict(evaluator.params, set, evaluator.config.model);
      const quality = imageQuality(set.data, set.shape);
      const asked = parsePromptAttributes(p.prompt);
      set.files!.forEach((file, k) => {
        const seed = Number(/seed-(\d+)/.exec(file)?.[1] ?? k);
        const pred = preds[k];
        const sims = subject.embeddings.map((e) => cosine(pred.embedding, e));
        const score: ImageScore = {
          prompt: p.id,
          seed,
          identity: sims.reduce((a, b) => a + b, 0) / sims.length,
          agreement: identityAgreement(pred.attributes, subject.attributes),
          meanLuma: quality[k].meanLuma,
          darkShare: quality[k].darkShare,
          sharpness: relativeSharpness(quality[k], refVar),
        };
        const f = promptFidelity(pred.attributes, asked);
        if (f !== undefined && p.role === "attribute") score.promptFidelity = f;
        if (p.role === "class") score.embedding = Array.from(pred.embedding);
        images.push(score);
      });
    }
    return {
      samples,
      roles: Object.fromEntries(meta.prompts.map((p) => [p.id, p.role])),
      referenceLaplacianVariance: refVar,
      images,
    };
  } finally {
    disposeParams(ev.params);
  }
}
