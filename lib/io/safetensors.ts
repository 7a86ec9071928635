/**
 * The safetensors format (huggingface/safetensors, `safetensors/src/tensor.rs` and its README):
 *
 *   [8 bytes]  N, little-endian unsigned 64-bit: the header's byte length
 *   [N bytes]  UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] },
 *                            "__metadata__": { "<str>": "<str>" } }   (padded with spaces)
 *   [rest]     the data section; offsets are relative to its start, tensors are little-endian, row-major
 *
 * The reference validator requires the tensors to tile the data section exactly: sorted by offset,
 * each begins where the previous ended, the last ends at the end of the file; and each tensor's
 * byte length equals numel(shape) × sizeof(dtype). This reader checks the same and names the file
 * and the tensor in every error. Tensors are read one at a time with positioned reads, so a 4 GB
 * file never needs one 4 GB buffer.
 */
import * as fs from "fs";
import * as os from "os";
import { writeFileAtomic } from "./atomic";
import { decodeBFloat16, decodeFloat16, encodeFloat16, OverflowMode } from "./float16";

/** Every dtype of the format, with its size in bytes (safetensors `Dtype`). */
export const DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
export type Dtype = keyof typeof DTYPE_SIZES;
/** Dtypes this module reads into float32. */
export const FLOAT_DTYPES: readonly Dtype[] = ["F32", "F16", "BF16", "F64"];
/** Dtypes this module writes. */
export type WriteDtype = "F32" | "F16";

/** One tensor's header entry; `begin`/`end` are byte offsets into the data section. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** the file (or "<buffer>") the header came from, for error messages */
  source: string;
  /** absolute byte offset of the data section: 8 + N */
  dataStart: number;
  /** byte length of the data section */
  dataLength: number;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

/** Values read from a file: float dtypes widen to float32; I32 and I64 keep their type. */
export type TensorData = Float32Array | Int32Array | BigInt64Array;

export interface LoadedTensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

/**
 * A float tensor to write, shape in the order its values are laid out. `data` may be a function that
 * makes the values when the writer reaches this tensor, so a whole model is never copied at once.
 */
export interface TensorToWrite {
  shape: number[];
  data: Float32Array | (() => Float32Array);
}

export interface WriteOptions {
  /** "F32" (default, bit-exact) or "F16" (round to nearest even) */
  dtype?: WriteDtype;
  /** string → string metadata; `format: "pt"` is added unless given (transformers and diffusers check it) */
  metadata?: Record<string, string>;
  /** F16 only: a finite value beyond ±65504 becomes ±Inf ("inf", torch's `.half()`) or is an error */
  overflow?: OverflowMode;
}

/** The reference implementation's cap on the header (safetensors `MAX_HEADER_SIZE`, 100 MB). */
export const MAX_HEADER_SIZE = 100_000_000;

function checkLittleEndian(): void {
  if (os.endianness() !== "LE") throw new Error("safetensors I/O here assumes a little-endian machine");
}

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;

/**
 * Validates a header given its JSON text and the data section's length.
 * @param source the file name, used in every error
 */
export function parseHeader(json: string, dataStart: number, dataLength: number, source: string): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new Error(
      `${source}: the safetensors header is not valid JSON (${(e as Error).message}); the file is damaged or not safetensors`,
      {
        cause: e,
      },
    );
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`${source}: the safetensors header must be a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (v === null || typeof v !== "object" || Array.isArray(v))
        throw new Error(`${source}: __metadata__ must be an object of strings`);
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== "string")
          throw new Error(`${source}: __metadata__.${k} must be a string (got ${JSON.stringify(s)})`);
        metadata[k] = s;
      }
      continue;
    }
    const where = `${source}: tensor "${name}"`;
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== "object")
      throw new Error(`${where}: entry must be an object with dtype, shape, data_offsets`);
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_SIZES)) {
      throw new Error(
        `${where}: unknown dtype ${JSON.stringify(e.dtype)}; known: ${Object.keys(DTYPE_SIZES).join(", ")}`,
      );
    }
    const dtype = e.dtype as Dtype;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${where}: shape must be a list of non-negative integers (got ${JSON.stringify(e.shape)})`);
    }
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[0] > off[1]
    ) {
      throw new Error(
        `${where}: data_offsets must be [begin, end] with 0 <= begin <= end (got ${JSON.stringify(off)})`,
      );
    }
    const [begin, end] = off as [number, number];
    if (end > dataLength) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] are out of range: the data section has ${dataLength} bytes (file truncated?)`,
      );
    }
    const size = DTYPE_SIZES[dtype];
    const bytes = numel(shape) * size;
    if (bytes !== end - begin) {
      throw new Error(
        `${where}: shape ${fmt(shape)} × ${dtype} (${size} bytes) = ${bytes} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    tensors.set(name, { name, dtype, shape, begin, end });
  }
  // the tensors must tile [0, dataLength): no overlap, no gap, nothing after the last one
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < pos) {
      throw new Error(
        `${source}: tensors "${prev!.name}" [${prev!.begin}, ${prev!.end}] and "${t.name}" [${t.begin}, ${t.end}] overlap`,
      );
    }
    if (t.begin > pos) {
      throw new Error(
        `${source}: bytes [${pos}, ${t.begin}) of the data section before tensor "${t.name}" belong to no tensor`,
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataLength) {
    throw new Error(
      `${source}: the data section has ${dataLength} bytes but the tensors end at byte ${pos} (trailing bytes)`,
    );
  }
  return { source, dataStart, dataLength, tensors, metadata };
}

/** Reads the 8-byte length and decodes it, checking it against the file size. */
function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) {
    throw new Error(
      `${source}: truncated: ${fileSize} bytes, but a safetensors file starts with an 8-byte header length`,
    );
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE))
    throw new Error(`${source}: header length ${n} exceeds ${MAX_HEADER_SIZE} bytes; not a safetensors file?`);
  if (Number(n) > fileSize - 8) {
    throw new Error(`${source}: truncated: the header needs ${n} bytes but only ${fileSize - 8} follow the length`);
  }
  return Number(n);
}

function utf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${source}: the safetensors header is not valid UTF-8`);
  }
}

/** Decodes and validates the header of a safetensors file held in memory. */
export function decodeHeader(bytes: Uint8Array, source = "<buffer>"): SafetensorsHeader {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  return parseHeader(utf8(bytes.subarray(8, 8 + n), source), 8 + n, bytes.length - 8 - n, source);
}

function readExactly(fd: number, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const chunk = Math.min(into.length - got, 1 << 30);
    const r = fs.readSync(fd, into, got, chunk, position + got);
    if (r === 0) break;
    got += r;
  }
  return got;
}

/** Reads and validates only the header of a safetensors file. */
export function readHeader(file: string): SafetensorsHeader {
  const fd = openForReading(file);
  try {
    return headerFromFd(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function openForReading(file: string): number {
  try {
    return fs.openSync(file, "r");
  } catch (e) {
    throw new Error(
      `cannot open safetensors file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
}

function headerFromFd(fd: number, file: string): SafetensorsHeader {
  const size = fs.fstatSync(fd).size;
  const first8 = new Uint8Array(8);
  readExactly(fd, first8, 0);
  const n = headerLength(first8, size, file);
  const json = new Uint8Array(n);
  readExactly(fd, json, 8);
  return parseHeader(utf8(json, file), 8 + n, size - 8 - n, file);
}

/** Turns one tensor's raw little-endian bytes into values (float dtypes → float32). */
function decodeTensor(raw: Uint8Array, t: TensorInfo, source: string, owned: boolean): TensorData {
  checkLittleEndian();
  const n = numel(t.shape);
  // a buffer we own (a fresh read) is used in place; otherwise copy, which also aligns it
  const buf = (): ArrayBuffer =>
    owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength
      ? (raw.buffer as ArrayBuffer)
      : new Uint8Array(raw).buffer;
  switch (t.dtype) {
    case "F32":
      return new Float32Array(buf(), 0, n);
    case "F16":
      return decodeFloat16(new Uint16Array(buf(), 0, n));
    case "BF16":
      return decodeBFloat16(new Uint16Array(buf(), 0, n));
    case "F64":
      return Float32Array.from(new Float64Array(buf(), 0, n));
    case "I32":
      return new Int32Array(buf(), 0, n);
    case "I64":
      return new BigInt64Array(buf(), 0, n);
    default:
      throw new Error(
        `${source}: tensor "${t.name}" has dtype ${t.dtype}, which this reader does not convert (readable: ${[...FLOAT_DTYPES, "I32", "I64"].join(", ")})`,
      );
  }
}

/** An open safetensors file: the header, then tensors read one by one on demand. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
    try {
      this.header = headerFromFd(fd, file);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  static open(file: string): SafetensorsFile {
    return new SafetensorsFile(file, openForReading(file));
  }

  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new Error(`${this.file}: no tensor "${name}"`);
    return t;
  }

  /** The tensor's values (float dtypes as float32). */
  read(name: string): TensorData {
    if (this.fd === undefined) throw new Error(`${this.file}: already closed`);
    const t = this.info(name);
    // read straight into a fresh ArrayBuffer: aligned for every dtype
    const raw = new Uint8Array(new ArrayBuffer(t.end - t.begin));
    const got = readExactly(this.fd, raw, this.header.dataStart + t.begin);
    if (got !== raw.length)
      throw new Error(
        `${this.file}: tensor "${name}" is truncated (${got} of ${raw.length} bytes); the file changed while reading?`,
      );
    return decodeTensor(raw, t, this.file, true);
  }

  /** The tensor as float32; an integer dtype is an error naming the tensor. */
  readFloat32(name: string): Float32Array {
    const t = this.info(name);
    if (!FLOAT_DTYPES.includes(t.dtype)) {
      throw new Error(
        `${this.file}: tensor "${name}" has dtype ${t.dtype}, expected a float dtype (${FLOAT_DTYPES.join(", ")})`,
      );
    }
    return this.read(name) as Float32Array;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Every tensor of a safetensors file, plus its metadata. */
export function readSafetensors(file: string): {
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string>;
} {
  const f = SafetensorsFile.open(file);
  try {
    const tensors = new Map<string, LoadedTensor>();
    for (const t of f.header.tensors.values())
      tensors.set(t.name, { dtype: t.dtype, shape: [...t.shape], data: f.read(t.name) });
    return { tensors, metadata: f.header.metadata };
  } finally {
    f.close();
  }
}

/** Every tensor of a safetensors file held in memory. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = "<buffer>",
): { tensors: Map<string, LoadedTensor>; metadata: Record<string, string> } {
  const h = decodeHeader(bytes, source);
  const tensors = new Map<string, LoadedTensor>();
  for (const t of h.tensors.values()) {
    const raw = bytes.subarray(h.dataStart + t.begin, h.dataStart + t.end);
    tensors.set(t.name, { dtype: t.dtype, shape: [...t.shape], data: decodeTensor(raw, t, source, false) });
  }
  return { tensors, metadata: h.metadata };
}

/**
 * Serializes tensors as safetensors, as a sequence of byte chunks (header first, then each tensor's
 * bytes in name order), so a 4 GB file is never one buffer. Shapes and lengths are checked before
 * the first chunk; F16 conversion happens tensor by tensor as the chunks are consumed.
 */
export function serializeSafetensors(
  tensors: Map<string, TensorToWrite>,
  opts: WriteOptions = {},
): { size: number; chunks: Iterable<Uint8Array> } {
  checkLittleEndian();
  const dtype = opts.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "F16")
    throw new Error(`safetensors write: dtype must be "F32" or "F16" (got ${JSON.stringify(dtype)})`);
  const size = DTYPE_SIZES[dtype];
  const metadata: Record<string, string> = { format: "pt", ...(opts.metadata ?? {}) };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new Error(`safetensors write: metadata "${k}" must be a string (got ${typeof v})`);
  }
  const names = [...tensors.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // header entries; JSON is assembled by hand so that key order is exactly: __metadata__, then names sorted
  const meta = Object.keys(metadata)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
  const parts = [`"__metadata__":{${meta.join(",")}}`];
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__")
      throw new Error(`safetensors write: "__metadata__" is reserved and cannot name a tensor`);
    const t = tensors.get(name)!;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`safetensors write: tensor "${name}" has an invalid shape ${fmt(t.shape)}`);
    if (typeof t.data !== "function") checkValues(name, t.shape, t.data);
    const bytes = numel(t.shape) * size;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + bytes}]}`,
    );
    offset += bytes;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  // pad with spaces so the data section starts 8-byte aligned (the reference writer does the same)
  const n = Math.ceil(json.length / 8) * 8;
  const header = Buffer.alloc(8 + n, 0x20);
  header.writeBigUInt64LE(BigInt(n), 0);
  json.copy(header, 8);
  const overflow = opts.overflow ?? "inf";
  function* chunks(): Generator<Uint8Array> {
    yield header;
    for (const name of names) {
      const t = tensors.get(name)!;
      const d = typeof t.data === "function" ? checkValues(name, t.shape, t.data()) : t.data;
      if (dtype === "F32") yield new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      else {
        const h = encodeFloat16(d, overflow, `tensor "${name}"`);
        yield new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
      }
    }
  }
  return { size: 8 + n + offset, chunks: chunks() };
}

function checkValues(name: string, shape: number[], data: Float32Array): Float32Array {
  if (!(data instanceof Float32Array)) throw new Error(`safetensors write: tensor "${name}" must hold a Float32Array`);
  if (data.length !== numel(shape)) {
    throw new Error(
      `safetensors write: tensor "${name}" has ${data.length} values but shape ${fmt(shape)} needs ${numel(shape)}`,
    );
  }
  return data;
}

/** The whole file as one buffer (for small files and tests). */
export function encodeSafetensors(tensors: Map<string, TensorToWrite>, opts: WriteOptions = {}): Uint8Array {
  const { size, chunks } = serializeSafetensors(tensors, opts);
  const out = new Uint8Array(size);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file, fsync, rename). */
export function writeSafetensors(file: string, tensors: Map<string, TensorToWrite>, opts: WriteOptions = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, opts).chunks);
}

/** Elements in a tensor of this shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
