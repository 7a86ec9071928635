/**
 * What the pretraining does with its trained autoencoder: measure it (reconstruction PSNR on held-out
 * faces) and encode the training faces once (latent mean and log-variance, with the captions' token
 * ids), so the U-Net stage never runs the encoder.
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseVaeConfig } from "../models/config";
import { vaeDecode, vaeEncode } from "../models/vae";
import type { Params } from "../models/params";
import { packedBatch, readPackedDataset } from "../data/dataset";
import { writeSafetensors } from "../io/safetensors";
import { fileSha256 } from "../io/sha256";
import { clipTokenizer } from "../tokenizer/clip";
import type { LatentCache } from "./diffusion-task";

/** PSNR of x ∈ [−1, 1] against y: 10·log10(2² / MSE). */
export function psnr(mse: number): number {
  return 10 * Math.log10(4 / mse);
}

/** Mean reconstruction PSNR (through the mean latent) over a packed split. */
export async function reconstructionPsnr(
  params: Params,
  rawVae: unknown,
  packFile: string,
  limit = 256,
  batch = 16,
): Promise<number> {
  const config = parseVaeConfig(rawVae);
  const pack = readPackedDataset(packFile);
  const n = Math.min(limit, pack.count);
  let total = 0;
  for (let s = 0; s < n; s += batch) {
    const idx = Array.from({ length: Math.min(batch, n - s) }, (_, i) => s + i);
    const b = packedBatch(pack, idx);
    const mses = tf.tidy(() => {
      const x = tf.tensor4d(b.data, b.shape);
      const { mean } = vaeEncode(params, config, x);
      const y = tf.clipByValue(vaeDecode(params, config, mean), -1, 1);
      return tf.mean(tf.squaredDifference(x, y), [1, 2, 3]);
    });
    for (const m of await mses.data()) total += psnr(m);
    mses.dispose();
  }
  return total / n;
}

/** Encodes a packed split once: latent mean and log-variance, and the caption ids, to safetensors. */
export async function encodeDataset(
  params: Params,
  rawVae: unknown,
  packFile: string,
  outFile: string,
  batch = 32,
  limit = Infinity,
): Promise<number> {
  const config = parseVaeConfig(rawVae);
  const full = readPackedDataset(packFile);
  const pack = {
    ...full,
    count: Math.min(limit, full.count),
    records: full.records.slice(0, Math.min(limit, full.count)),
  };
  const tok = clipTokenizer();
  const means: Float32Array[] = [];
  const logvars: Float32Array[] = [];
  let latentShape: number[] = [];
  for (let s = 0; s < pack.count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, pack.count - s) }, (_, i) => s + i);
    const b = packedBatch(pack, idx);
    const x = tf.tensor4d(b.data, b.shape);
    const d = vaeEncode(params, config, x);
    latentShape = d.mean.shape.slice(1);
    means.push((await d.mean.data()) as Float32Array);
    logvars.push((await d.logvar.data()) as Float32Array);
    tf.dispose([x, d.mean, d.logvar]);
  }
  const cat = (a: Float32Array[]) => {
    const out = new Float32Array(a.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of a) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  const ids = new Float32Array(pack.count * 77);
  pack.records.forEach((r, i) => ids.set(tok.encode(r.caption), i * 77));
  writeSafetensors(
    outFile,
    new Map([
      ["mean", { shape: [pack.count, ...latentShape], data: cat(means) }],
      ["logvar", { shape: [pack.count, ...latentShape], data: cat(logvars) }],
      ["input_ids", { shape: [pack.count, 77], data: ids }],
    ]),
    { metadata: { source_sha256: fileSha256(packFile), images: String(pack.count) } },
  );
  return pack.count;
}

/** Standard deviation of z ~ q(z|x) over a latent cache: sqrt(Var(μ) + E[σ²]) (law of total variance). */
export function latentStandardDeviation(c: LatentCache): number {
  let sum = 0;
  let sq = 0;
  let v = 0;
  for (let i = 0; i < c.mean.length; i++) {
    sum += c.mean[i];
    sq += c.mean[i] * c.mean[i];
    v += Math.exp(c.logvar[i]);
  }
  const n = c.mean.length;
  const m = sum / n;
  return Math.sqrt(sq / n - m * m + v / n);
}
