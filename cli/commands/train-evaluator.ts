/** `dreambooth train-evaluator`: train the attribute evaluator on face renders and report held-out accuracy. */
import path from "path";
import { BACKEND_OPTION, defineCommand, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import {
  DEFAULT_EVALUATOR_CONFIG,
  DEFAULT_EVALUATOR_DIR,
  DEFAULT_TRAIN_CONFIG,
  renderLabelledFaces,
  saveEvaluator,
  trainEvaluator,
} from "../../lib/eval";
import { disposeParams } from "../../lib/models/init";
import { accuracyLines, heldOutAccuracy } from "./evaluator-accuracy";

const D = DEFAULT_TRAIN_CONFIG;
export const command = defineCommand({
  name: "train-evaluator",
  summary: "train the attribute evaluator (attribute heads + identity embedding) and report held-out accuracy",
  description: `Trains the attribute evaluator (one softmax head per face attribute, and an identity embedding) on
--train faces of the train split, each rendered twice (a new pose, background, brightness and expression:
the identity's "twin"), then prints per-attribute accuracy on the first --test faces of the test split.
Writes <out>/evaluator.safetensors (float16), <out>/config.json (network, training config, this command,
accuracies) and <out>/training-log.jsonl, each atomically.`,
  options: {
    out: { type: "string", value: "<folder>", default: DEFAULT_EVALUATOR_DIR, help: "where the evaluator goes" },
    train: { type: "integer", min: 2, default: 20000, help: "training faces" },
    test: { type: "integer", min: 1, default: 1000, help: "held-out faces" },
    steps: { type: "integer", min: 1, default: D.steps, help: "optimizer steps" },
    pairs: { type: "integer", min: 2, default: D.pairs, help: "twin pairs per batch" },
    lr: { type: "number", min: 0, default: D.lr, help: "learning rate" },
    seed: { type: "integer", min: 0, max: 2 ** 26, default: D.seed, help: "dataset and init seed" },
    ...BACKEND_OPTION,
  },
  async run(o, _positionals, argv) {
    const { out, train: trainN, test: testN, steps, pairs, lr, seed } = o;
    if (trainN < pairs) throw new UsageError(`--train must be at least --pairs (${pairs}), got ${trainN}`);
    const backend = await initBackend({ prefer: o.backend });

    const t0 = performance.now();
    const faces = await renderLabelledFaces({ split: "train", count: trainN, seed, twins: true });
    const renderSeconds = (performance.now() - t0) / 1000;
    console.error(`rendered ${faces.count} training images (${trainN} faces + twins) in ${renderSeconds.toFixed(1)} s`);
    const cfg = DEFAULT_EVALUATOR_CONFIG;
    const train = { ...D, steps, pairs, lr, seed };
    const every = Math.max(1, Math.floor(steps / 20));
    const { params, log } = await trainEvaluator(faces, cfg, train, (e) => {
      if (e.step % every === 0 || e.step === steps) {
        console.error(
          `step ${e.step}/${steps}  loss ${e.loss.toFixed(3)} (attributes ${e.attributeLoss.toFixed(3)}, identity ${e.identityLoss.toFixed(3)})  ${e.seconds.toFixed(0)} s`,
        );
      }
    });
    try {
      const trainSeconds = log.length ? log[log.length - 1].seconds : 0;
      const acc = await heldOutAccuracy(params, cfg, testN, seed);
      for (const line of accuracyLines(acc, testN, seed)) console.log(line);
      const command = ["dreambooth", "train-evaluator", ...argv].join(" ");
      await saveEvaluator(
        out,
        params,
        {
          model: cfg,
          train: { ...train, faces: trainN, testFaces: testN, split: "train", datasetSeed: seed },
          command,
          backend: backend.name,
          seconds: { render: Math.round(renderSeconds * 10) / 10, train: Math.round(trainSeconds * 10) / 10 },
          heldOutAccuracy: Object.fromEntries(
            acc.map((a) => [a.attribute, { accuracy: a.accuracy, correct: a.correct, scored: a.scored }]),
          ),
        },
        log,
      );
      console.log(
        `wrote ${path.join(out, "evaluator.safetensors")}, config.json and training-log.jsonl (training ${trainSeconds.toFixed(0)} s, rendering ${renderSeconds.toFixed(0)} s)`,
      );
    } finally {
      disposeParams(params);
    }
    return 0;
  },
});
