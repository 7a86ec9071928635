/** `dreambooth train`: DreamBooth fine-tuning of the U-Net with prior preservation, for one forward process. */
import * as os from "os";
import { bool, Command, int, num, oneOf, parseArgs, str, UsageError, DEFAULT_MODEL } from "../command";
import { initBackend } from "../../lib/backend";
import { dreamboothTrain } from "../../lib/dreambooth/train";
import { CLASS_PROMPT, INSTANCE_PROMPT } from "../../lib/data/subject";
import { PREDICTION_TYPES, PredictionType } from "../../lib/diffusion/forward";
import { SCHEDULE_KINDS, ScheduleKind } from "../../lib/schedules";
import { readSchedulerConfig } from "../../lib/pipeline/stable-diffusion";

/**
 * The pipeline's fine-tuning recipe, named as in params.yaml's dreambooth section (a test holds the two
 * equal; the prediction type defaults to the base model's own): this command's defaults and usage text.
 */
export const DREAMBOOTH_DEFAULTS = {
  instance_prompt: INSTANCE_PROMPT, class_prompt: CLASS_PROMPT, prior_weight: 1, steps: 200, lr: 0.00005,
  instances_per_batch: 2, class_per_batch: 2, seed: 0,
};
const D = DREAMBOOTH_DEFAULTS;

const usage = `usage: dreambooth train --schedule <${SCHEDULE_KINDS.join("|")}> [--zero-terminal-snr]
                       [--model ${DEFAULT_MODEL}] [--instance data] [--class-dir runs/class-images | --no-prior]
                       [--instance-prompt "${D.instance_prompt}"] [--class-prompt "${D.class_prompt}"] [--prior-weight ${D.prior_weight}]
                       [--prediction epsilon|v_prediction|sample (default: the base model's)] [--min-snr-gamma γ] [--offset-noise s]
                       [--steps ${D.steps}] [--lr ${D.lr}] [--instances-per-batch ${D.instances_per_batch}] [--class-per-batch ${D.class_per_batch}]
                       [--out runs/dreambooth/<name>/model] [--work runs/dreambooth/<name>] [--resize] [--resolution px]
                       [--workers N (0: in this process, the default on a GPU backend)] [--seed ${D.seed}]
                       [--checkpoint-every 100] [--fresh] [--backend …]

Fine-tunes the U-Net only (the paper's setting). The paper's learning rate is 5e-6 for SD 1.x; the
tiny embedded model, trained from scratch on far less data, needs a larger one (${D.lr} by default, for
${D.steps} steps: params.yaml's dreambooth section; at 1e-4, or 400 steps, it binds the subject to the exact
instance prompt).
Resumes from --work's last checkpoint when interrupted, if that checkpoint started from the same base
model, settings and training images (otherwise it is moved to checkpoints.stale and training starts
over). --fresh always starts over: the pipeline's stages use it, so that a stage rerun for changed code
trains anew instead of resuming the finished run that the old code made.`;

export const command: Command = {
  name: "train",
  summary: "DreamBooth fine-tuning (U-Net, prior preservation) for one noise-scheduler setting",
  usage,
  async run(argv) {
    const a = parseArgs(
      argv,
      ["schedule", "model", "instance", "class-dir", "instance-prompt", "class-prompt", "prior-weight", "prediction", "min-snr-gamma", "offset-noise", "steps", "lr", "instances-per-batch", "class-per-batch", "out", "work", "workers", "seed", "checkpoint-every", "resolution", "backend"],
      ["zero-terminal-snr", "no-prior", "resize", "fresh"],
    );
    const kind = str(a, "schedule") as ScheduleKind;
    if (!kind || !SCHEDULE_KINDS.includes(kind)) throw new UsageError(`--schedule is required: one of ${SCHEDULE_KINDS.join(", ")}`);
    const model = str(a, "model", DEFAULT_MODEL)!;
    // default: what the base model was trained to predict (its scheduler config); another type is allowed
    // (SD 2.x-style v-prediction on an SD 1.x base) but the fine-tuning then has to relearn its output
    const basePrediction = readSchedulerConfig(model).predictionType;
    const prediction = oneOf<PredictionType>(a, "prediction", PREDICTION_TYPES, basePrediction);
    if (prediction !== basePrediction) console.error(`note: ${model} predicts ${basePrediction}; fine-tuning it to predict ${prediction} (it has to relearn its output)`);
    const zt = bool(a, "zero-terminal-snr");
    const name = `${kind}${zt ? "-ztsnr" : ""}${bool(a, "no-prior") ? "-noprior" : ""}`;
    const work = str(a, "work", `runs/dreambooth/${name}`)!;
    const backend = await initBackend({ prefer: str(a, "backend") });
    const r = await dreamboothTrain({
      model,
      instanceDir: str(a, "instance", "data")!,
      instancePrompt: str(a, "instance-prompt", D.instance_prompt)!,
      classDir: bool(a, "no-prior") ? undefined : str(a, "class-dir", "runs/class-images"),
      classPrompt: str(a, "class-prompt", D.class_prompt)!,
      priorWeight: num(a, "prior-weight", D.prior_weight)!,
      out: str(a, "out", `${work}/model`)!,
      work,
      schedule: { kind, zeroTerminalSnr: zt },
      predictionType: prediction,
      minSnrGamma: num(a, "min-snr-gamma"),
      offsetNoise: num(a, "offset-noise"),
      steps: int(a, "steps", D.steps)!,
      lr: num(a, "lr", D.lr)!,
      instancesPerBatch: int(a, "instances-per-batch", D.instances_per_batch)!,
      classPerBatch: int(a, "class-per-batch", D.class_per_batch)!,
      // a GPU backend trains in this process; wasm gets one worker thread per core
      workers: int(a, "workers", ["wasm", "cpu"].includes(backend.name) ? os.availableParallelism() : 0)!,
      seed: int(a, "seed", D.seed)!,
      checkpointEvery: int(a, "checkpoint-every", 100)!,
      resize: bool(a, "resize"),
      resolution: int(a, "resolution"),
      fresh: bool(a, "fresh"),
    });
    console.log(JSON.stringify(r));
    return 0;
  },
};
