/** `dreambooth train-evaluator`: train the attribute evaluator on face renders and report held-out accuracy. */
import path from "path";
import { Command, int, num, parseArgs, str, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import {
  DEFAULT_EVALUATOR_CONFIG, DEFAULT_EVALUATOR_DIR, DEFAULT_TRAIN_CONFIG, renderLabelledFaces, saveEvaluator, trainEvaluator,
} from "../../lib/eval";
import { disposeParams } from "../../lib/models/init";
import { accuracyLines, heldOutAccuracy } from "./evaluator-accuracy";

const D = DEFAULT_TRAIN_CONFIG;
const usage = `usage: dreambooth train-evaluator [--out ${DEFAULT_EVALUATOR_DIR}] [--train N] [--test N] [--steps N] [--pairs N]
                                 [--lr X] [--seed S] [--backend wasm|cpu|auto]

Trains the attribute evaluator (one softmax head per face attribute, and an identity embedding) on
N faces of the train split, each rendered twice (a new pose, background, brightness and expression:
the identity's "twin"), then prints per-attribute accuracy on the first --test faces of the test split.
Writes <out>/evaluator.safetensors (float16), <out>/config.json (network, training config, this
command, accuracies) and <out>/training-log.jsonl, each atomically.
Defaults: --train 20000 --test 1000 --steps ${D.steps} --pairs ${D.pairs} --lr ${D.lr} --seed ${D.seed}.`;

export const command: Command = {
  name: "train-evaluator",
  summary: "train the attribute evaluator (attribute heads + identity embedding) and report held-out accuracy",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["out", "train", "test", "steps", "pairs", "lr", "seed", "backend"]);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"\n${usage}`);
    const out = str(args, "out", DEFAULT_EVALUATOR_DIR)!;
    const trainN = int(args, "train", 20000)!;
    const testN = int(args, "test", 1000)!;
    const steps = int(args, "steps", D.steps)!;
    const pairs = int(args, "pairs", D.pairs)!;
    const lr = num(args, "lr", D.lr)!;
    const seed = int(args, "seed", D.seed)!;
    for (const [k, v, lo] of [["train", trainN, pairs], ["test", testN, 1], ["steps", steps, 1], ["pairs", pairs, 2]] as const) {
      if (v < lo) throw new UsageError(`--${k} must be at least ${lo} (got ${v})`);
    }
    if (!(lr > 0)) throw new UsageError(`--lr must be positive (got ${lr})`);
    if (seed < 0 || seed > 2 ** 26) throw new UsageError(`--seed must be in [0, 2^26] (got ${seed})`);
    const backend = await initBackend({ prefer: str(args, "backend") });

    const t0 = performance.now();
    const faces = await renderLabelledFaces({ split: "train", count: trainN, seed, twins: true });
    const renderSeconds = (performance.now() - t0) / 1000;
    console.error(`rendered ${faces.count} training images (${trainN} faces + twins) in ${renderSeconds.toFixed(1)} s`);
    const cfg = DEFAULT_EVALUATOR_CONFIG;
    const train = { ...D, steps, pairs, lr, seed };
    const every = Math.max(1, Math.floor(steps / 20));
    const { params, log } = await trainEvaluator(faces, cfg, train, (e) => {
      if (e.step % every === 0 || e.step === steps) {
        console.error(`step ${e.step}/${steps}  loss ${e.loss.toFixed(3)} (attributes ${e.attributeLoss.toFixed(3)}, identity ${e.identityLoss.toFixed(3)})  ${e.seconds.toFixed(0)} s`);
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
          heldOutAccuracy: Object.fromEntries(acc.map((a) => [a.attribute, { accuracy: a.accuracy, correct: a.correct, scored: a.scored }])),
        },
        log,
      );
      console.log(`wrote ${path.join(out, "evaluator.safetensors")}, config.json and training-log.jsonl (training ${trainSeconds.toFixed(0)} s, rendering ${renderSeconds.toFixed(0)} s)`);
    } finally {
      disposeParams(params);
    }
    return 0;
  },
};
