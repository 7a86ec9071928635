/**
 * Seeded randomness. JS-side draws come from seedrandom streams; tfjs draws take an integer seed
 * derived from the run's seed and a label, so that every consumer gets its own independent,
 * reproducible stream: the same seed gives the same bytes, on the same backend.
 */
import seedrandom from "seedrandom";
import * as tf from "@tensorflow/tfjs-core";

export type Seed = number | string;

/** A uniform [0, 1) generator with a 32-bit state (seedrandom's alea), reproducible for a seed. */
export interface Rng {
  (): number;
  /** a 32-bit signed integer */
  int32(): number;
}

/** A seeded stream; `labels` derive an independent stream from the same seed. */
export function rng(seed: Seed, ...labels: (string | number)[]): Rng {
  return seedrandom.alea(streamName(seed, labels)) as unknown as Rng;
}

function streamName(seed: Seed, labels: (string | number)[]): string {
  return [String(seed), ...labels.map(String)].join("/");
}

/**
 * A derived integer seed in [0, 2^31) for tfjs' seeded ops (`tf.randomNormal(..., seed)`):
 * FNV-1a over the seed and labels, then one murmur3 finaliser round for avalanche.
 */
export function deriveSeed(seed: Seed, ...labels: (string | number)[]): number {
  const s = streamName(seed, labels);
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 1;
}

/** Standard normal noise of a shape, reproducible for (seed, labels). */
export function randomNormal(shape: number[], seed: Seed, ...labels: (string | number)[]): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, "float32", deriveSeed(seed, ...labels));
}

/** `n` integers uniform in [0, high), reproducible for (seed, labels): e.g. training timesteps. */
export function randomInts(n: number, high: number, seed: Seed, ...labels: (string | number)[]): Int32Array {
  if (!Number.isInteger(high) || high < 1) throw new Error(`randomInts: high must be a positive integer (got ${high})`);
  const r = rng(seed, ...labels);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * high);
  return out;
}
