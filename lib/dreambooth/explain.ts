/**
 * DreamBooth taken apart, for notebook 03: one training step with every intermediate returned
 * (the same computation as the training task, lib/dreambooth/task.ts), the loss against the
 * timestep under a forward process, and a few fine-tuning steps on a copy of the U-Net with the
 * training task's own loss, so the prior-preservation weight can be turned like a knob.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import type { StableDiffusion } from "../pipeline/stable-diffusion";
import { encodePrompts } from "../pipeline/stable-diffusion";
import { vaeDecode, vaeEncode } from "../models/vae";
import { unetForward } from "../models/unet";
import { clipTextForward } from "../models/clip-text";
import type { Params } from "../models/params";
import { disposeParams } from "../models/init";
import { addNoise, PredictionType, predictX0AndEps, trainingTarget } from "../diffusion/forward";
import { makeSchedule, type NoiseSchedule, type ScheduleConfig } from "../schedules";
import { randomNormal, Seed } from "../random";
import { AdamW, clipByGlobalNorm } from "../train/optim";
import { batchIndices, localSource } from "../train/trainer";
import { makeDreamBoothLoss, type DreamBoothTaskConfig } from "./task";

/** The gradient of one part of the model in a DreamBooth step. */
export interface ModuleGradient {
  /** "unet/down_blocks.1", "text_encoder", … */
  module: string;
  params: number;
  /** L2 norm of the gradient the step applies to this part: 0 where it is frozen */
  applied: number;
  /** L2 norm of the loss's gradient with respect to this part, applied or not (the VAE: not computed, NaN) */
  gradient: number;
  trained: boolean;
}

export interface StepBreakdown {
  /** timestep index used (0-based; t = index + 1) */
  t: number;
  /** sqrt(ᾱ_t) and sqrt(1 − ᾱ_t) at that t */
  signal: number;
  noise: number;
  instanceLoss: number;
  priorLoss: number;
  /** instance + λ · prior */
  totalLoss: number;
  /** global norm of the U-Net's gradient of the total loss (the only part DreamBooth updates) */
  unetGradNorm: number;
  /** the gradient by part: the U-Net's top-level blocks, then the frozen text encoder and VAE */
  modules: ModuleGradient[];
  /** latents [2, h, w, c] (scaled, as the U-Net sees them): z_0 = E(x)·scaling and z_t */
  latentClean: tf.Tensor4D;
  latentNoisy: tf.Tensor4D;
  /**
   * images in [−1, 1], [2, H, W, 3]: row 0 the instance example, row 1 the class example. All three
   * are decoded latents: `clean` is the VAE's round trip D(E(x)), `noisy` is D(z_t) (the noisy latent
   * decoded, not a noisy image), `predicted` is D(ẑ_0).
   */
  clean: tf.Tensor4D;
  noisy: tf.Tensor4D;
  predicted: tf.Tensor4D;
}

/** "unet/down_blocks.1" for "down_blocks.1.resnets.0.conv1.weight"; "unet/conv_in" for "conv_in.weight". */
function unetModule(name: string): string {
  const parts = name.split(".");
  return `unet/${/^\d+$/.test(parts[1] ?? "") ? parts.slice(0, 2).join(".") : parts[0]}`;
}

const sumSquares = (ts: tf.Tensor[]) =>
  ts.length ? tf.tidy(() => tf.addN(ts.map((g) => tf.sum(tf.square(g)))).dataSync()[0]) : 0;

/**
 * instance, klass: one image each, [1, H, W, 3] in [−1, 1]. The same t and ε for both examples, as
 * in a batch of two. The gradient is taken with respect to the U-Net and the text encoder, so that
 * the table can show what freezing the text encoder throws away; only the U-Net's is "applied".
 * Dispose the returned tensors.
 */
export function dreamboothStep(
  sd: StableDiffusion,
  instance: tf.Tensor4D,
  klass: tf.Tensor4D,
  o: {
    schedule: NoiseSchedule;
    predictionType: PredictionType;
    t: number;
    priorWeight: number;
    instancePrompt: string;
    classPrompt: string;
    seed: Seed;
  },
): StepBreakdown {
  const unetNames = [...sd.unet.keys()];
  const textNames = [...sd.textEncoder.keys()];
  const vars = [...sd.unet.values(), ...sd.textEncoder.values()];
  const nameOf = new Map<string, string>();
  for (const [k, v] of sd.unet) nameOf.set(v.name, `unet/${k}`);
  for (const [k, v] of sd.textEncoder) nameOf.set(v.name, `text_encoder/${k}`);
  const out = tf.tidy(() => {
    // 1. latents of both images (the mean: a deterministic picture), scaled for the U-Net
    const x = tf.concat([instance, klass], 0) as tf.Tensor4D;
    const z0 = tf.mul(vaeEncode(sd.vae, sd.configs.vae, x).mean, sd.configs.vae.scaling_factor) as tf.Tensor4D;
    // 2. the tokens of the two prompts; the text encoder runs inside the gradient below
    const ids = tf.tensor2d(
      [o.instancePrompt, o.classPrompt].flatMap((p) => sd.tokenizer.encode(p)),
      [2, 77],
      "int32",
    );
    // 3. noise at timestep t (the paper's Eq. 1)
    const eps = randomNormal(z0.shape, o.seed, "explain") as tf.Tensor4D;
    const ts = [o.t, o.t];
    const xt = addNoise(o.schedule, z0, eps, ts) as tf.Tensor4D;
    const target = trainingTarget(o.predictionType, o.schedule, z0, eps, ts);
    // 4. the two losses and their gradient
    const perExample = (pred: tf.Tensor) => tf.mean(tf.squaredDifference(pred, target), [1, 2, 3]);
    const forward = () => {
      const states = clipTextForward(sd.textEncoder, sd.configs.textEncoder, ids);
      return unetForward(sd.unet, sd.configs.unet, xt, tf.tensor1d(ts, "int32"), states);
    };
    const { value, grads } = tf.variableGrads(() => {
      const [li, lp] = tf.unstack(perExample(forward()));
      return tf.add(li, tf.mul(lp, o.priorWeight)) as tf.Scalar;
    }, vars);
    const pred = forward();
    const losses = perExample(pred);
    // 5. pictures: clean, noisy and the model's x̂₀, decoded
    const { x0: x0hat } = predictX0AndEps(o.predictionType, o.schedule, xt, pred, ts);
    const dec = (z: tf.Tensor) => {
      const unscaled = tf.div(z, sd.configs.vae.scaling_factor) as tf.Tensor4D;
      return tf.clipByValue(vaeDecode(sd.vae, sd.configs.vae, unscaled), -1, 1) as tf.Tensor4D;
    };
    const named = Object.fromEntries(Object.entries(grads).map(([k, g]) => [nameOf.get(k)!, g]));
    return { value, losses, named, z0, xt, clean: dec(z0), noisy: dec(xt), predicted: dec(x0hat) };
  });
  // the gradient by part; DreamBooth's optimizer holds the U-Net's parameters only
  const modules: ModuleGradient[] = [];
  for (const k of unetNames) {
    const m = unetModule(k);
    if (modules[modules.length - 1]?.module !== m)
      modules.push({ module: m, params: 0, applied: 0, gradient: 0, trained: true });
    const row = modules[modules.length - 1];
    row.params += sd.unet.get(k)!.size;
    row.gradient += sumSquares([out.named[`unet/${k}`]]);
  }
  for (const row of modules) row.applied = row.gradient = Math.sqrt(row.gradient);
  const textGrad = Math.sqrt(sumSquares(textNames.map((k) => out.named[`text_encoder/${k}`])));
  const count = (p: Params) => [...p.values()].reduce((a, v) => a + v.size, 0);
  const te = { module: "text_encoder", params: count(sd.textEncoder), applied: 0, gradient: textGrad, trained: false };
  modules.push(te);
  modules.push({ module: "vae", params: count(sd.vae), applied: 0, gradient: NaN, trained: false });
  const [li, lp] = out.losses.dataSync();
  const r: StepBreakdown = {
    t: o.t,
    signal: o.schedule.sqrtAlphasCumprod[o.t],
    noise: o.schedule.sqrtOneMinusAlphasCumprod[o.t],
    instanceLoss: li,
    priorLoss: lp,
    totalLoss: out.value.dataSync()[0],
    unetGradNorm: Math.sqrt(modules.filter((m) => m.trained).reduce((a, m) => a + m.applied ** 2, 0)),
    modules,
    latentClean: out.z0,
    latentNoisy: out.xt,
    clean: out.clean,
    noisy: out.noisy,
    predicted: out.predicted,
  };
  tf.dispose([out.value, out.losses, ...Object.values(out.named)]);
  return r;
}

/**
 * The mean training loss at each timestep (0-based indices) of a forward process, for images
 * [B, H, W, 3] in [−1, 1] with one prompt each, over `draws` noise draws per image. The noise
 * depends on (seed, t, draw) only, not on the schedule, so two schedules are compared on the same
 * ε: what differs between them is how much of z_0 is left at t.
 */
export function lossByTimestep(
  sd: StableDiffusion,
  images: tf.Tensor4D,
  prompts: string[],
  o: { schedule: NoiseSchedule; predictionType: PredictionType; timesteps: number[]; draws: number; seed: Seed },
): number[] {
  const B = images.shape[0];
  if (prompts.length !== B) {
    throw new Error(`lossByTimestep: ${B} images but ${prompts.length} prompts (give one prompt per image)`);
  }
  const z0 = tf.tidy(() => {
    const z = tf.mul(vaeEncode(sd.vae, sd.configs.vae, images).mean, sd.configs.vae.scaling_factor);
    return tf.tile(z, [o.draws, 1, 1, 1]) as tf.Tensor4D;
  });
  const states = tf.tidy(() => tf.tile(encodePrompts(sd, prompts), [o.draws, 1, 1]) as tf.Tensor3D);
  try {
    return o.timesteps.map((t) =>
      tf.tidy(() => {
        const ts = new Array(z0.shape[0]).fill(t);
        const eps = randomNormal(z0.shape, o.seed, "loss-by-timestep", t);
        const xt = addNoise(o.schedule, z0, eps, ts) as tf.Tensor4D;
        const target = trainingTarget(o.predictionType, o.schedule, z0, eps, ts);
        const pred = unetForward(sd.unet, sd.configs.unet, xt, tf.tensor1d(ts, "int32"), states);
        return tf.mean(tf.squaredDifference(pred, target)).dataSync()[0];
      }),
    );
  } finally {
    tf.dispose([z0, states]);
  }
}

export interface FewStepsOptions {
  schedule: ScheduleConfig;
  predictionType: PredictionType;
  /** λ, the prior-preservation weight; 0 trains on the instance images alone (no class image in the batch) */
  priorWeight: number;
  steps: number;
  lr: number;
  instancePrompt: string;
  classPrompt: string;
  seed: Seed;
  /** timesteps (0-based) of the fixed evaluation batch; default 99, 299, 499, 699, 899 */
  evalTimesteps?: number[];
}

export interface FewStepsLog {
  /** 0: before the first update */
  step: number;
  /** mean loss on the instance images with the instance prompt, on the fixed evaluation batch */
  instanceLoss: number;
  /** mean loss on the class images with the class prompt: what prior preservation protects */
  priorLoss: number;
  /** the gradient norm of the step, before clipping to 1 (NaN at step 0) */
  gradNorm: number;
}

/**
 * A few DreamBooth steps on a copy of the U-Net, with the training task's own loss
 * (lib/dreambooth/task.ts: one instance image and, if λ > 0, one class image per step), AdamW
 * (weight decay 1e-2) and clipping at norm 1 as `dreambooth train` does, in this process. After
 * each step both losses are measured on a fixed batch (every image at `evalTimesteps`, fixed
 * noise). `sd` is left as it was; the fine-tuned U-Net is returned: `{ ...sd, unet }` samples with
 * it. Call `dispose()` when done.
 */
export async function dreamboothFewSteps(
  sd: StableDiffusion,
  instances: tf.Tensor4D,
  classImages: tf.Tensor4D,
  o: FewStepsOptions,
): Promise<{ unet: Params; log: FewStepsLog[]; dispose(): void }> {
  if (!(o.priorWeight >= 0)) {
    throw new Error(`priorWeight must be ≥ 0 (got ${o.priorWeight}): 0 turns prior preservation off`);
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`steps must be a positive integer (got ${o.steps})`);
  const schedule = makeSchedule(o.schedule);
  const encode = (x: tf.Tensor4D) => {
    const d = vaeEncode(sd.vae, sd.configs.vae, x);
    const mean = d.mean.dataSync() as Float32Array;
    const out = { mean, logvar: d.logvar.dataSync() as Float32Array, count: x.shape[0] };
    const shape = d.mean.shape.slice(1) as [number, number, number];
    tf.dispose([d.mean, d.logvar]);
    return { set: out, shape };
  };
  const inst = encode(instances);
  const cls = encode(classImages);
  const statesT = encodePrompts(sd, [o.instancePrompt, o.classPrompt]);
  const [, L, D] = statesT.shape;
  const sData = statesT.dataSync() as Float32Array;
  statesT.dispose();
  const cfg: DreamBoothTaskConfig = {
    unet: JSON.parse(fs.readFileSync(path.join(sd.dir, "unet", "config.json"), "utf8")),
    latentShape: inst.shape,
    scalingFactor: sd.configs.vae.scaling_factor,
    instance: inst.set,
    prior: cls.set,
    instanceStates: sData.slice(0, L * D),
    classStates: sData.slice(L * D),
    statesShape: [L, D],
    priorWeight: o.priorWeight,
    instancesPerBatch: 1,
    schedule: o.schedule,
    predictionType: o.predictionType,
    seed: o.seed,
  };
  // a copy of the U-Net: a variable shares its initial buffer and gets its own at the first update
  const unet: Params = new Map([...sd.unet].map(([k, v]) => [k, tf.variable(v, true)]));
  const source = localSource(unet, makeDreamBoothLoss(cfg, unet));
  const opt = new AdamW({ weightDecay: 1e-2 });
  // the fixed evaluation batch: every instance and class image at every evaluation timestep
  const evalTs = o.evalTimesteps ?? [99, 299, 499, 699, 899];
  const nI = inst.set.count;
  const nC = cls.set.count;
  const evalBatch = tf.tidy(() => {
    const z = tf.mul(
      tf.concat([tf.tensor4d(inst.set.mean, [nI, ...inst.shape]), tf.tensor4d(cls.set.mean, [nC, ...cls.shape])], 0),
      sd.configs.vae.scaling_factor,
    );
    const reps = evalTs.length;
    const z0 = tf.tile(z, [reps, 1, 1, 1]) as tf.Tensor4D;
    const ts = evalTs.flatMap((t) => new Array(nI + nC).fill(t));
    const eps = randomNormal(z0.shape, o.seed, "few-steps-eval");
    const xt = addNoise(schedule, z0, eps, ts);
    const target = trainingTarget(o.predictionType, schedule, z0, eps, ts);
    const perState = (i: number) => (i % (nI + nC) < nI ? 0 : 1);
    const states = tf.gather(
      tf.tensor3d(sData, [2, L, D]),
      ts.map((_, i) => perState(i)),
    );
    return { xt, target, t: tf.tensor1d(ts, "int32"), states, isInstance: ts.map((_, i) => perState(i) === 0) };
  });
  const evaluate = (step: number, gradNorm: number): FewStepsLog => {
    const per = tf.tidy(() => {
      const pred = unetForward(unet, sd.configs.unet, evalBatch.xt as tf.Tensor4D, evalBatch.t, evalBatch.states);
      return tf.mean(tf.squaredDifference(pred, evalBatch.target), [1, 2, 3]).dataSync();
    });
    let si = 0;
    let sp = 0;
    per.forEach((v, i) => (evalBatch.isInstance[i] ? (si += v) : (sp += v)));
    return { step, instanceLoss: si / (nI * evalTs.length), priorLoss: sp / (nC * evalTs.length), gradNorm };
  };
  const log = [evaluate(0, NaN)];
  try {
    for (let step = 0; step < o.steps; step++) {
      const samples = [
        ...batchIndices(`${o.seed}/instance`, step, 1, nI),
        ...(o.priorWeight > 0 ? batchIndices(`${o.seed}/class`, step, 1, nC).map((i) => nI + i) : []),
      ];
      const { grads } = await source.step(step, samples);
      const norm = clipByGlobalNorm(grads, 1);
      opt.apply(unet, grads, o.lr);
      tf.dispose([...grads.values()]);
      log.push(evaluate(step + 1, norm));
    }
  } finally {
    opt.dispose();
    tf.dispose([evalBatch.xt, evalBatch.target, evalBatch.t, evalBatch.states]);
  }
  return { unet, log, dispose: () => disposeParams(unet) };
}
