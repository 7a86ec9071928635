/**
 * Checkpoints that survive a crash at any moment: each is written into a temporary folder, every
 * file atomically, then the folder is renamed into place and `latest` is updated atomically. A
 * resumed run restores weights, optimizer moments, EMA and the step, and because every random draw
 * is derived from (seed, step), it continues exactly as an uninterrupted run would.
 */
import * as fs from "fs";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import type { ParamSpec, Params } from "../models/params";
import { readSafetensors, writeSafetensors, TensorToWrite } from "../io/safetensors";
import { writeWeights, readWeights } from "../models/weights";
import { writeFileAtomic } from "../io/atomic";
import type { AdamW, Ema } from "./optim";

export interface CheckpointComponent {
  /** file stem, e.g. "unet" → unet.safetensors */
  name: string;
  params: Params;
  specs: ParamSpec[];
}

export interface CheckpointContent {
  step: number;
  components: CheckpointComponent[];
  optimizer?: AdamW;
  ema?: Ema;
  /** anything JSON: the config used, the loss so far, … */
  state?: Record<string, unknown>;
}

const stepDir = (step: number) => `step-${String(step).padStart(7, "0")}`;

async function arrays(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of params) out.set(k, new Float32Array((await v.data()) as Float32Array));
  return out;
}

/** Writes a checkpoint under `<dir>/step-NNNNNNN/` and points `<dir>/latest` at it; keeps the newest `keep`. */
export async function saveCheckpoint(dir: string, c: CheckpointContent, keep = 2): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const final = path.join(dir, stepDir(c.step));
  const tmp = path.join(dir, `.tmp-${stepDir(c.step)}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  for (const comp of c.components)
    writeWeights(path.join(tmp, `${comp.name}.safetensors`), await arrays(comp.params), comp.specs);
  if (c.optimizer) {
    const st = await c.optimizer.state();
    const t = new Map<string, TensorToWrite>([...st.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data }]));
    writeSafetensors(path.join(tmp, "optimizer.safetensors"), t, { metadata: { step: String(st.step) } });
  }
  if (c.ema) {
    const t = new Map<string, TensorToWrite>();
    for (const [k, v] of c.ema.shadow)
      t.set(k, { shape: v.shape, data: new Float32Array((await v.data()) as Float32Array) });
    writeSafetensors(path.join(tmp, "ema.safetensors"), t);
  }
  writeFileAtomic(
    path.join(tmp, "state.json"),
    JSON.stringify({ step: c.step, optimizerStep: c.optimizer?.step ?? null, ...c.state }, null, 2) + "\n",
  );
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  writeFileAtomic(path.join(dir, "latest"), stepDir(c.step) + "\n");
  // prune old checkpoints, newest first
  const all = fs
    .readdirSync(dir)
    .filter((f) => /^step-\d{7}$/.test(f))
    .sort()
    .reverse();
  for (const old of all.slice(Math.max(keep, 1))) fs.rmSync(path.join(dir, old), { recursive: true, force: true });
  return final;
}

/** The newest complete checkpoint in `dir`, or undefined. */
export function latestCheckpoint(
  dir: string,
): { path: string; step: number; state: Record<string, unknown> } | undefined {
  const pointer = path.join(dir, "latest");
  if (!fs.existsSync(pointer)) return undefined;
  const name = fs.readFileSync(pointer, "utf8").trim();
  const p = path.join(dir, name);
  const statePath = path.join(p, "state.json");
  if (!fs.existsSync(statePath)) {
    throw new Error(
      `checkpoint ${p} named by ${pointer} is incomplete (no state.json): delete ${pointer} to start over`,
    );
  }
  const state = JSON.parse(fs.readFileSync(statePath, "utf8")) as Record<string, unknown>;
  return { path: p, step: Number(state.step), state };
}

/** Restores weights (into the given variables), optimizer moments and EMA from a checkpoint folder. */
export function restoreCheckpoint(p: string, c: Omit<CheckpointContent, "step" | "state">): void {
  for (const comp of c.components) {
    const values = readWeights(path.join(p, `${comp.name}.safetensors`), comp.specs);
    for (const [k, v] of comp.params) tf.tidy(() => v.assign(tf.tensor(values.get(k)!, v.shape)));
  }
  if (c.optimizer) {
    const f = path.join(p, "optimizer.safetensors");
    const { tensors, metadata } = readSafetensors(f);
    const m = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [k, t] of tensors) m.set(k, { shape: t.shape, data: t.data as Float32Array });
    c.optimizer.load(Number(metadata.step), m);
  }
  if (c.ema) {
    const { tensors } = readSafetensors(path.join(p, "ema.safetensors"));
    for (const [k, v] of c.ema.shadow) {
      const t = tensors.get(k);
      if (!t) throw new Error(`${p}/ema.safetensors lacks ${k}`);
      tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, v.shape)));
    }
  }
}
