/** `dreambooth train`: DreamBooth fine-tuning of the U-Net with prior preservation, for one forward process. */
import * as os from "os";
import { BACKEND_OPTION, defineCommand, UsageError } from "../command";
import { initBackend } from "../../lib/backend";
import { dreamboothTrain } from "../../lib/dreambooth/train";
import { PREDICTION_TYPES } from "../../lib/diffusion/forward";
import { SCHEDULE_KINDS } from "../../lib/schedules";
import { readSchedulerConfig } from "../../lib/pipeline/stable-diffusion";
import { FINE_TUNE_CONFIGS, FINE_TUNE_NAMES, fineTuneName } from "../../lib/dreambooth/configs";

export const command = defineCommand({
  name: "train",
  summary: "DreamBooth fine-tuning (U-Net, prior preservation) for one noise-scheduler setting",
  description: `Fine-tunes the U-Net only (the paper's setting), under the forward process that --config names (or
--schedule and --zero-terminal-snr give). Resumes from --work's last checkpoint when interrupted, if that checkpoint
started from the same base model, settings and training images (otherwise it is moved to
checkpoints.stale and training starts over); --fresh always starts over (the pipeline's stages use it,
so a stage rerun for changed code trains anew).`,
  options: {
    config: {
      type: "string",
      choices: FINE_TUNE_NAMES,
      help: "one of the experiment's settings (sets --schedule, --zero-terminal-snr, --no-prior)",
    },
    schedule: { type: "string", choices: SCHEDULE_KINDS, help: "the β schedule of the forward process (or --config)" },
    "zero-terminal-snr": { type: "boolean", help: "rescale it to SNR_T = 0 (the paper's Algorithm 1)" },
    model: { type: "string", value: "<folder>", param: "base.model", help: "the base model (diffusers folder)" },
    instance: { type: "string", value: "<folder>", default: "data", help: "the subject's photos" },
    "class-dir": {
      type: "string",
      value: "<folder>",
      default: "runs/class-images",
      help: "class images (prior preservation)",
    },
    "no-prior": { type: "boolean", help: "train without prior preservation" },
    "instance-prompt": {
      type: "string",
      value: '"<text>"',
      param: "dreambooth.instance_prompt",
      help: "the subject's prompt",
    },
    "class-prompt": { type: "string", value: '"<text>"', param: "dreambooth.class_prompt", help: "the class prompt" },
    "prior-weight": {
      type: "number",
      min: 0,
      param: "dreambooth.prior_weight",
      help: "weight of the prior-preservation loss",
    },
    prediction: {
      type: "string",
      choices: PREDICTION_TYPES,
      help: "what the U-Net predicts (default: the base model's, from its scheduler config)",
    },
    "min-snr-gamma": { type: "number", min: 0, help: "Min-SNR loss weighting γ (Hang et al. 2023; default: off)" },
    "offset-noise": { type: "number", min: 0, help: "offset noise strength (default: off)" },
    steps: { type: "integer", min: 1, param: "dreambooth.steps", help: "optimizer steps" },
    lr: { type: "number", min: 0, param: "dreambooth.lr", help: "learning rate (the paper: 5e-6 on SD 1.5)" },
    "instances-per-batch": {
      type: "integer",
      min: 1,
      param: "dreambooth.instances_per_batch",
      help: "instance images per batch",
    },
    "class-per-batch": { type: "integer", min: 0, param: "dreambooth.class_per_batch", help: "class images per batch" },
    resolution: { type: "integer", min: 8, value: "<px>", help: "training image side (default: the model's own)" },
    resize: {
      type: "boolean",
      help: "center-crop and resize instance photos of another size instead of refusing them",
    },
    out: { type: "string", value: "<folder>", help: "the fine-tuned model (default: <work>/model)" },
    work: {
      type: "string",
      value: "<folder>",
      help: "checkpoints and log.csv (default: runs/dreambooth/<configuration>/<seed>)",
    },
    workers: {
      type: "integer",
      min: 0,
      help: "worker threads (default: every core on wasm and cpu; 0: this process, a GPU's default)",
    },
    seed: {
      type: "integer",
      min: 0,
      default: 0,
      help: "training seed: moves the noise, the timesteps and the batch order, not the data",
    },
    "checkpoint-every": { type: "integer", min: 1, default: 100, help: "steps between checkpoints" },
    fresh: { type: "boolean", help: "start from step 0 even where --work holds a checkpoint" },
    ...BACKEND_OPTION,
  },
  async run(o) {
    if (o.config && (o.schedule || o.zeroTerminalSnr || o.noPrior)) {
      throw new UsageError(
        "--config sets the schedule, zero terminal SNR and prior preservation: give it alone, or those three",
      );
    }
    if (!o.config && !o.schedule)
      throw new UsageError(`--config or --schedule is required (configs: ${FINE_TUNE_NAMES.join(", ")})`);
    const preset = o.config ? FINE_TUNE_CONFIGS[o.config] : undefined;
    const kind = preset?.schedule.kind ?? o.schedule!;
    const zeroTerminalSnr = preset?.schedule.zeroTerminalSnr ?? o.zeroTerminalSnr;
    const prior = preset?.prior ?? !o.noPrior;
    // default: what the base model was trained to predict (its scheduler config); another type is allowed
    // (SD 2.x-style v-prediction on an SD 1.x base) but the fine-tuning then has to relearn its output
    const basePrediction = readSchedulerConfig(o.model).predictionType;
    const prediction = o.prediction ?? basePrediction;
    if (prediction !== basePrediction) {
      console.error(
        `note: ${o.model} predicts ${basePrediction}; fine-tuning it to predict ${prediction} (it has to relearn its output)`,
      );
    }
    const work = o.work ?? `runs/dreambooth/${fineTuneName(kind, zeroTerminalSnr, prior)}/${o.seed}`;
    const backend = await initBackend({ prefer: o.backend });
    const r = await dreamboothTrain({
      model: o.model,
      instanceDir: o.instance,
      instancePrompt: o.instancePrompt,
      classDir: prior ? o.classDir : undefined,
      classPrompt: o.classPrompt,
      priorWeight: o.priorWeight,
      out: o.out ?? `${work}/model`,
      work,
      schedule: { kind, zeroTerminalSnr },
      predictionType: prediction,
      minSnrGamma: o.minSnrGamma,
      offsetNoise: o.offsetNoise,
      steps: o.steps,
      lr: o.lr,
      instancesPerBatch: o.instancesPerBatch,
      classPerBatch: o.classPerBatch,
      // a GPU backend trains in this process; wasm gets one worker thread per core
      workers: o.workers ?? (["wasm", "cpu"].includes(backend.name) ? os.availableParallelism() : 0),
      seed: o.seed,
      checkpointEvery: o.checkpointEvery,
      resize: o.resize,
      resolution: o.resolution,
      fresh: o.fresh,
    });
    console.log(JSON.stringify(r));
    return 0;
  },
});
