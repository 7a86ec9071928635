/**
 * The captioned face dataset: train / val / test splits with disjoint face seeds, written as a folder
 * of PNGs plus `metadata.jsonl`, or as one packed binary file (header + uint8 RGB + JSONL) for fast
 * loading in training.
 */
import fs from "fs";
import path from "path";
import { FaceAttributes } from "./attributes";
import { generateFaceWith, loadFacesjs, renderFaceRgb, rgbToPng } from "./faces";
import { ImageError, toSigned } from "./images";

export const SPLITS = ["train", "val", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** Faces per split at most: the index occupies the low 24 bits of the face seed. */
export const MAX_SPLIT_SIZE = 2 ** 24;

/**
 * The face seed of image `index` of a split: (datasetSeed · 3 + split) · 2^24 + index. Distinct
 * (datasetSeed, split, index) give distinct seeds, so splits never share a face. Non-negative, so
 * never equal to the subject's negative `SUBJECT_SEED`.
 */
export function splitSeed(datasetSeed: number, split: Split, index: number): number {
  const s = SPLITS.indexOf(split);
  if (s < 0) throw new Error(`unknown split "${split}"; known: ${SPLITS.join(", ")}`);
  if (!Number.isInteger(datasetSeed) || datasetSeed < 0 || datasetSeed > 2 ** 26) {
    throw new Error(`dataset seed must be an integer in [0, 2^26] (got ${datasetSeed})`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SPLIT_SIZE) throw new Error(`index must be an integer in [0, 2^24) (got ${index})`);
  return (datasetSeed * 3 + s) * MAX_SPLIT_SIZE + index;
}

/** One line of `metadata.jsonl`, and of a packed file's JSONL. */
export interface FaceRecord {
  /** file name relative to the folder (folders only) */
  file?: string;
  seed: number;
  caption: string;
  attributes: FaceAttributes;
}

export interface DatasetOptions {
  count: number;
  split: Split;
  /** pixels per side (default 64) */
  size?: number;
  /** dataset seed (default 0) */
  seed?: number;
  /** called after each face with the number done */
  onProgress?: (done: number, total: number) => void;
}

function checkCount(count: number) {
  if (!Number.isInteger(count) || count < 0 || count > MAX_SPLIT_SIZE) throw new Error(`count must be an integer in [0, 2^24] (got ${count})`);
}

/** Renders the faces of a split one by one: (record, uint8 RGB). */
async function* renderSplit(opts: DatasetOptions): AsyncGenerator<{ record: FaceRecord; rgb: Uint8Array }> {
  const { count, split, size = 64, seed = 0 } = opts;
  checkCount(count);
  const lib = await loadFacesjs();
  for (let i = 0; i < count; i++) {
    const face = generateFaceWith(lib, splitSeed(seed, split, i), { size });
    const rgb = await renderFaceRgb(face, size);
    yield { record: { seed: face.seed, caption: face.caption, attributes: face.attributes }, rgb };
    opts.onProgress?.(i + 1, count);
  }
}

export const imageFileName = (index: number) => `${String(index).padStart(6, "0")}.png`;
const OWN_FILE = /^\d{6,}\.png$/;

/**
 * `writeDataset(dir, {count, split, size, seed})`: PNGs `000000.png …` and `metadata.jsonl` (one
 * `FaceRecord` per line, in order). Earlier outputs of this function in `dir` (numbered PNGs and
 * metadata.jsonl) are removed first so the folder never mixes two runs; other files are left alone.
 */
export async function writeDataset(dir: string, opts: DatasetOptions): Promise<{ count: number; seconds: number }> {
  const t0 = performance.now();
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(dir)) if (OWN_FILE.test(name) || name === "metadata.jsonl") fs.rmSync(path.join(dir, name));
  const lines: string[] = [];
  let i = 0;
  const size = opts.size ?? 64;
  for await (const { record, rgb } of renderSplit(opts)) {
    const file = imageFileName(i++);
    fs.writeFileSync(path.join(dir, file), await rgbToPng(rgb, size, size));
    lines.push(JSON.stringify({ file, ...record }));
  }
  fs.writeFileSync(path.join(dir, "metadata.jsonl"), lines.map((l) => l + "\n").join(""));
  return { count: i, seconds: (performance.now() - t0) / 1000 };
}

/** Reads `metadata.jsonl` of a dataset folder; a bad line is an error naming the file and line. */
export function readMetadata(dir: string): FaceRecord[] {
  const file = path.join(dir, "metadata.jsonl");
  if (!fs.existsSync(file)) throw new ImageError(`${file} does not exist; fix: write the dataset with \`dreambooth data\``);
  return parseJsonl(fs.readFileSync(file, "utf8"), file);
}

function parseJsonl(text: string, file: string): FaceRecord[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l, i) => {
    let r: FaceRecord;
    try {
      r = JSON.parse(l) as FaceRecord;
    } catch (e) {
      throw new ImageError(`${file} line ${i + 1} is not JSON (${(e as Error).message}); fix: regenerate it with \`dreambooth data\``);
    }
    if (typeof r?.caption !== "string" || typeof r.seed !== "number" || typeof r.attributes !== "object") {
      throw new ImageError(`${file} line ${i + 1} lacks seed, caption or attributes; fix: regenerate it with \`dreambooth data\``);
    }
    return r;
  });
}

// ---- packed binary file ------------------------------------------------------------------------

/**
 * Packed layout (little-endian): bytes 0–7 the magic "IDBFACES"; then uint32 version (1), count,
 * height, width, channels (3), byte length of the JSONL; then count·height·width·channels uint8
 * pixels (image-major, HWC); then the JSONL, one `FaceRecord` per image, in order.
 */
export const PACK_MAGIC = "IDBFACES";
export const PACK_VERSION = 1;
const HEADER_BYTES = 8 + 6 * 4;

export interface PackedDataset {
  count: number;
  size: number;
  channels: 3;
  /** uint8 RGB, count × size × size × 3 */
  pixels: Uint8Array;
  records: FaceRecord[];
}

/** Writes a split as one packed file, streaming the pixels (memory stays one image). */
export async function writePackedDataset(file: string, opts: DatasetOptions): Promise<{ count: number; bytes: number; seconds: number }> {
  const t0 = performance.now();
  const size = opts.size ?? 64;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + ".partial";
  const fd = fs.openSync(tmp, "w");
  let pos = HEADER_BYTES;
  const lines: string[] = [];
  try {
    for await (const { record, rgb } of renderSplit(opts)) {
      fs.writeSync(fd, rgb, 0, rgb.length, pos);
      pos += rgb.length;
      lines.push(JSON.stringify(record) + "\n");
    }
    const jsonl = Buffer.from(lines.join(""), "utf8");
    fs.writeSync(fd, jsonl, 0, jsonl.length, pos);
    fs.writeSync(fd, packHeader(lines.length, size, jsonl.length), 0, HEADER_BYTES, 0);
    pos += jsonl.length;
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return { count: lines.length, bytes: pos, seconds: (performance.now() - t0) / 1000 };
}

function packHeader(count: number, size: number, jsonlBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write(PACK_MAGIC, 0, "latin1");
  [PACK_VERSION, count, size, size, 3, jsonlBytes].forEach((v, i) => h.writeUInt32LE(v, 8 + 4 * i));
  return h;
}

/** Reads a packed file; anything inconsistent is an error naming the file and the fix. */
export function readPackedDataset(file: string): PackedDataset {
  const fix = "fix: regenerate it with `dreambooth data --format packed`";
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ImageError(`cannot read packed dataset ${file} (${(e as NodeJS.ErrnoException).code}); ${fix}`);
  }
  if (buf.length < HEADER_BYTES || buf.toString("latin1", 0, 8) !== PACK_MAGIC) {
    throw new ImageError(`${file} is not a packed face dataset (no "${PACK_MAGIC}" header); ${fix}`);
  }
  const [version, count, height, width, channels, jsonlBytes] = [0, 1, 2, 3, 4, 5].map((i) => buf.readUInt32LE(8 + 4 * i));
  if (version !== PACK_VERSION) throw new ImageError(`${file} is packed format version ${version}, this code reads ${PACK_VERSION}; ${fix}`);
  if (channels !== 3 || height !== width || height === 0) throw new ImageError(`${file} has images ${height}×${width}×${channels}, expected square RGB; ${fix}`);
  const pixelBytes = count * height * width * 3;
  const expected = HEADER_BYTES + pixelBytes + jsonlBytes;
  if (buf.length !== expected) throw new ImageError(`${file} is ${buf.length} bytes, its header says ${expected} (truncated or appended to); ${fix}`);
  const records = parseJsonl(buf.toString("utf8", HEADER_BYTES + pixelBytes), file);
  if (records.length !== count) throw new ImageError(`${file} has ${records.length} captions for ${count} images; ${fix}`);
  const pixels = new Uint8Array(buf.buffer, buf.byteOffset + HEADER_BYTES, pixelBytes);
  return { count, size: height, channels: 3, pixels, records };
}

/** Images `indices` of a packed dataset as float32 NHWC in [-1, 1] (a training batch). */
export function packedBatch(pack: PackedDataset, indices: readonly number[]): { data: Float32Array; shape: [number, number, number, number] } {
  const per = pack.size * pack.size * 3;
  const data = new Float32Array(indices.length * per);
  indices.forEach((idx, b) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= pack.count) throw new RangeError(`packedBatch: index ${idx} is outside [0, ${pack.count})`);
    toSigned(pack.pixels.subarray(idx * per, (idx + 1) * per), data, b * per);
  });
  return { data, shape: [indices.length, pack.size, pack.size, 3] };
}
