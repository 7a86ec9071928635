/**
 * Training the evaluator on labelled renders, top to bottom (nanoGPT `train.py` style):
 * render pairs → init → loop (batch, forward, loss, step, log) → held-out accuracy.
 *
 * Loss = Σ_attributes masked softmax cross-entropy + λ · NT-Xent over the batch's twin pairs
 * (Chen et al. 2020, eq. 1, temperature τ): the heads learn the attributes, the embedding learns
 * identity invariant to pose, background, brightness and expression.
 */
import * as tf from "@tensorflow/tfjs-core";
import { CATEGORICAL_ATTRIBUTES } from "../data/attributes";
import { initParams } from "../models/init";
import { Params } from "../models/params";
import { rng } from "../random";
import { batchOf, LabelledFaces } from "./faces";
import {
  DEFAULT_EVALUATOR_CONFIG,
  EvaluatorConfig,
  evaluatorForward,
  evaluatorSpecs,
  headOffsets,
  predict,
} from "./model";

export interface TrainConfig {
  /** optimiser steps */
  steps: number;
  /** twin pairs per step (2× images) */
  pairs: number;
  /** peak Adam learning rate (Kingma & Ba 2015), cosine-decayed to 5 % of it (Loshchilov & Hutter 2017, SGDR eq. 5) */
  lr: number;
  /** NT-Xent temperature τ (SimCLR's 0.1 for small batches, Chen et al. 2020 table B.1 region) */
  temperature: number;
  /** weight λ of the identity loss against the sum of the attribute losses */
  identityWeight: number;
  /** seed of the initialisation and of the batch order */
  seed: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  steps: 10000, // ≈ 47 min on one quiet wasm thread (≈ 0.28 s per step); 3000 left eyes at 83 %, eyebrows at 79 %, 1500 near chance
  pairs: 16, // 32 images per step
  lr: 2e-3,
  temperature: 0.1,
  identityWeight: 1,
  seed: 0,
};

export interface StepLog {
  step: number;
  loss: number;
  attributeLoss: number;
  identityLoss: number;
  seconds: number;
}

/**
 * Masked mean cross-entropy of every head plus the identity loss. `targets` is one-hot over the
 * concatenated classes [N, Σ classes], `mask` [N, attributes]; images 2i and 2i+1 are twins.
 */
export function evaluatorLoss(
  params: Params,
  x: tf.Tensor4D,
  targets: tf.Tensor2D,
  mask: tf.Tensor2D,
  cfg: EvaluatorConfig,
  train: Pick<TrainConfig, "temperature" | "identityWeight">,
): { loss: tf.Scalar; attributeLoss: tf.Scalar; identityLoss: tf.Scalar } {
  return tf.tidy(() => {
    const out = evaluatorForward(params, x, cfg);
    const n = x.shape[0];
    const { offsets } = headOffsets(cfg);
    const perHead: tf.Scalar[] = cfg.heads.map((h, i) => {
      const lsm = tf.logSoftmax(out.logits[h.attribute]); // [N, k]
      const y = tf.slice(targets, [0, offsets[i]], [n, h.classes.length]);
      const ce = tf.neg(tf.sum(tf.mul(y, lsm), 1)); // [N]
      const m = tf.reshape(tf.slice(mask, [0, i], [n, 1]), [n]);
      return tf.div(tf.sum(tf.mul(ce, m)), tf.maximum(tf.sum(m), 1)) as tf.Scalar;
    });
    const attributeLoss = tf.addN(perHead) as tf.Scalar;
    // NT-Xent: each image's positive is its twin (2i ↔ 2i+1); every other image is a negative.
    const z = out.embedding; // [N, D], unit rows
    const sim = tf.div(tf.matMul(z, z, false, true), train.temperature); // [N, N]
    const selfMask = tf.mul(tf.eye(n), -1e9);
    const lsm = tf.logSoftmax(tf.add(sim, selfMask));
    const twin = Array.from({ length: n }, (_, i) => i ^ 1);
    const pos = tf.oneHot(tf.tensor1d(twin, "int32"), n);
    const identityLoss = tf.neg(tf.mean(tf.sum(tf.mul(pos, lsm), 1))) as tf.Scalar;
    const loss = tf.add(attributeLoss, tf.mul(identityLoss, train.identityWeight)) as tf.Scalar;
    return { loss, attributeLoss, identityLoss };
  });
}

/** One-hot targets over the concatenated classes, and the mask, for images `indices`. */
export function targetsOf(
  faces: LabelledFaces,
  indices: readonly number[],
  cfg: EvaluatorConfig,
): { targets: tf.Tensor2D; mask: tf.Tensor2D } {
  const { total, offsets } = headOffsets(cfg);
  const A = CATEGORICAL_ATTRIBUTES.length;
  const col = cfg.heads.map((h) => {
    const q = CATEGORICAL_ATTRIBUTES.indexOf(h.attribute);
    if (q < 0)
      throw new Error(
        `evaluator head "${h.attribute}" is not a data attribute; known: ${CATEGORICAL_ATTRIBUTES.join(", ")}`,
      );
    return q;
  });
  const t = new Float32Array(indices.length * total);
  const m = new Float32Array(indices.length * cfg.heads.length);
  indices.forEach((idx, b) => {
    cfg.heads.forEach((_, i) => {
      t[b * total + offsets[i] + faces.targets[idx * A + col[i]]] = 1;
      m[b * cfg.heads.length + i] = faces.mask[idx * A + col[i]];
    });
  });
  return { targets: tf.tensor2d(t, [indices.length, total]), mask: tf.tensor2d(m, [indices.length, cfg.heads.length]) };
}

/** The batch order: `pairs` random twin pairs per step, seeded, epoch by epoch without replacement. */
export function batchSchedule(pairCount: number, steps: number, pairs: number, seed: number): number[][] {
  if (pairCount < pairs)
    throw new Error(
      `training needs at least ${pairs} faces for ${pairs} pairs per step (got ${pairCount}); pass more with --train`,
    );
  const r = rng(seed, "evaluator-batches");
  const out: number[][] = [];
  let order: number[] = [];
  for (let s = 0; s < steps; s++) {
    if (order.length < pairs) {
      const perm = Array.from({ length: pairCount }, (_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      order = perm;
    }
    const p = order.splice(0, pairs);
    out.push(p.flatMap((i) => [2 * i, 2 * i + 1]));
  }
  return out;
}

/** Cosine decay from `peak` to 0.05·peak over `steps` (SGDR, Loshchilov & Hutter 2017, eq. 5, one cycle). */
export function cosineLr(step: number, steps: number, peak: number): number {
  const floor = 0.05 * peak;
  return floor + 0.5 * (peak - floor) * (1 + Math.cos((Math.PI * step) / Math.max(1, steps - 1)));
}

/**
 * Trains a fresh evaluator on twin-paired faces (`renderLabelledFaces({twins: true})`).
 * Returns the trained variables (the caller disposes them) and the per-step log.
 */
export async function trainEvaluator(
  faces: LabelledFaces,
  cfg: EvaluatorConfig = DEFAULT_EVALUATOR_CONFIG,
  train: Partial<TrainConfig> = {},
  onLog?: (entry: StepLog) => void,
): Promise<{ params: Params; log: StepLog[] }> {
  const tc: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...train };
  if (faces.count % 2 !== 0)
    throw new Error("trainEvaluator: faces must come in twin pairs (render them with twins: true)");
  if (faces.size !== cfg.imageSize)
    throw new Error(`trainEvaluator: faces are ${faces.size} px, the config expects ${cfg.imageSize}`);
  const params = initParams(evaluatorSpecs(cfg), tc.seed);
  const schedule = batchSchedule(faces.count / 2, tc.steps, tc.pairs, tc.seed);
  const opt = tf.train.adam(tc.lr);
  // tfjs's Adam reads its (protected) learningRate at every step: the schedule sets it there.
  const setLr = (lr: number) => ((opt as unknown as { learningRate: number }).learningRate = lr);
  const vars = [...params.values()];
  const log: StepLog[] = [];
  const t0 = performance.now();
  try {
    for (let step = 0; step < tc.steps; step++) {
      // batch: 2·pairs images, twins adjacent
      const idx = schedule[step];
      const b = batchOf(faces, idx);
      const x = tf.tensor4d(b.data, b.shape);
      const { targets, mask } = targetsOf(faces, idx, cfg);
      // learning rate: cosine from lr to 0.05·lr over the run
      setLr(cosineLr(step, tc.steps, tc.lr));
      // forward, backward, step
      let parts: { attributeLoss: tf.Scalar; identityLoss: tf.Scalar } | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const l = evaluatorLoss(params, x, targets, mask, cfg, tc);
        parts = { attributeLoss: tf.keep(l.attributeLoss), identityLoss: tf.keep(l.identityLoss) };
        return l.loss;
      }, vars);
      opt.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose([x, targets, mask, grads]);
      // log
      const entry: StepLog = {
        step: step + 1,
        loss: (await value.data())[0],
        attributeLoss: (await parts!.attributeLoss.data())[0],
        identityLoss: (await parts!.identityLoss.data())[0],
        seconds: (performance.now() - t0) / 1000,
      };
      tf.dispose([value, parts!.attributeLoss, parts!.identityLoss]);
      log.push(entry);
      onLog?.(entry);
      if (!Number.isFinite(entry.loss))
        throw new Error(
          `evaluator training diverged at step ${step + 1} (loss ${entry.loss}); lower the learning rate`,
        );
    }
  } catch (e) {
    for (const v of vars) v.dispose();
    throw e;
  } finally {
    opt.dispose();
  }
  return { params, log };
}

export interface AttributeAccuracy {
  attribute: string;
  correct: number;
  /** faces on which the attribute was scored (see `scoredMask`) */
  scored: number;
  accuracy: number;
}

/** Per-attribute accuracy of the evaluator on labelled faces (masked attributes are not scored). */
export async function attributeAccuracy(
  params: Params,
  faces: LabelledFaces,
  cfg: EvaluatorConfig = DEFAULT_EVALUATOR_CONFIG,
): Promise<AttributeAccuracy[]> {
  const preds = await predict(
    params,
    batchOf(
      faces,
      Array.from({ length: faces.count }, (_, i) => i),
    ),
    cfg,
  );
  const A = CATEGORICAL_ATTRIBUTES.length;
  return cfg.heads.map((h) => {
    const q = CATEGORICAL_ATTRIBUTES.indexOf(h.attribute);
    let correct = 0;
    let scored = 0;
    preds.forEach((p, i) => {
      if (!faces.mask[i * A + q]) return;
      scored++;
      if (p.indices[h.attribute] === faces.targets[i * A + q]) correct++;
    });
    return { attribute: h.attribute, correct, scored, accuracy: scored ? correct / scored : NaN };
  });
}
