import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  decodeHeader,
  decodeSafetensors,
  encodeSafetensors,
  readHeader,
  readSafetensors,
  SafetensorsFile,
  TensorToWrite,
  writeSafetensors,
} from "./safetensors";

/**
 * A safetensors file built by hand from the format's description (huggingface/safetensors README):
 * u64 little-endian header length, the header bytes, the data. Nothing here uses the writer.
 */
function handBuilt(header: string, data: number[]): Buffer {
  const h = Buffer.from(header, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.from(data)]);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "safetensors-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
function tmpFile(name: string, bytes: Uint8Array): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, bytes);
  return f;
}
const f32 = (...v: number[]) => new Float32Array(v);

test("writer output matches the format byte by byte (F32, sorted keys, metadata, space padding)", () => {
  const bytes = encodeSafetensors(
    new Map<string, TensorToWrite>([
      ["b", { shape: [2], data: f32(1, -2) }],
      ["a", { shape: [1, 1], data: f32(0.5) }],
    ]),
    { metadata: { k: "v" } },
  );
  const json =
    '{"__metadata__":{"format":"pt","k":"v"},' +
    '"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
  const n = Math.ceil(json.length / 8) * 8;
  const expected = [
    ...[n & 0xff, n >> 8, 0, 0, 0, 0, 0, 0], // u64 LE header length
    ...Buffer.from(json.padEnd(n, " "), "ascii"),
    ...[0x00, 0x00, 0x00, 0x3f], // 0.5f = 0x3F000000, little-endian
    ...[0x00, 0x00, 0x80, 0x3f], // 1.0f = 0x3F800000
    ...[0x00, 0x00, 0x00, 0xc0], // -2.0f = 0xC0000000
  ];
  assert.equal((8 + n) % 8, 0);
  assert.deepEqual(Array.from(bytes), expected);
});

test("F16 writer output byte by byte: 1, -2, 65504, 2^-24, -0", () => {
  const bytes = encodeSafetensors(new Map([["w", { shape: [5], data: f32(1, -2, 65504, 2 ** -24, -0) }]]), {
    dtype: "F16",
    metadata: {},
  });
  const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[5],"data_offsets":[0,10]}}';
  const n = Math.ceil(json.length / 8) * 8;
  const body = Array.from(bytes.subarray(8 + n));
  assert.equal(Buffer.from(bytes.subarray(8, 8 + n)).toString("ascii"), json.padEnd(n, " "));
  // binary16 bit patterns (IEEE 754): 3C00, C000, 7BFF, 0001, 8000, little-endian
  assert.deepEqual(body, [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0x80]);
});

test("reads hand-built files with F32, F16, BF16, I32, I64, an empty tensor, and unpadded headers", () => {
  const header = JSON.stringify({
    f32: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    f16: { dtype: "F16", shape: [2], data_offsets: [8, 12] },
    bf16: { dtype: "BF16", shape: [1, 2], data_offsets: [12, 16] },
    i64: { dtype: "I64", shape: [2], data_offsets: [16, 32] },
    i32: { dtype: "I32", shape: [1], data_offsets: [32, 36] },
    empty: { dtype: "F32", shape: [0, 3], data_offsets: [36, 36] },
    __metadata__: { note: "hand" },
  }); // length not a multiple of 8: the data section is then unaligned in the file
  const data = [
    0x00,
    0x00,
    0x40,
    0x40,
    0x00,
    0x00,
    0x80,
    0xbf, // F32 3, -1
    0x00,
    0x38,
    0x01,
    0x00, // F16 0.5, 2^-24
    0x80,
    0x3f,
    0x80,
    0xc0, // BF16 1, -4
    0x05,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff, // I64 5, -1
    0xfe,
    0xff,
    0xff,
    0xff, // I32 -2
  ];
  const bytes = handBuilt(header + (header.length % 8 === 0 ? " " : ""), data);
  for (const r of [decodeSafetensors(bytes, "mem"), readSafetensors(tmpFile("hand.safetensors", bytes))]) {
    assert.deepEqual(r.metadata, { note: "hand" });
    assert.deepEqual(Array.from(r.tensors.get("f32")!.data as Float32Array), [3, -1]);
    assert.deepEqual(Array.from(r.tensors.get("f16")!.data as Float32Array), [0.5, 2 ** -24]);
    assert.deepEqual(r.tensors.get("bf16")!.shape, [1, 2]);
    assert.deepEqual(Array.from(r.tensors.get("bf16")!.data as Float32Array), [1, -4]);
    assert.deepEqual(Array.from(r.tensors.get("i64")!.data as BigInt64Array), [5n, -1n]);
    assert.deepEqual(Array.from(r.tensors.get("i32")!.data as Int32Array), [-2]);
    assert.equal(r.tensors.get("empty")!.data.length, 0);
  }
});

test("F32 round trip is bit-exact (NaN payloads, ±0, ±Inf, subnormals) through a file", () => {
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  const bits = Uint32Array.from({ length: 1000 }, rand);
  bits.set([0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00001, 0xffa00000, 0x00000001, 0x807fffff]);
  const data = new Float32Array(bits.buffer);
  const file = path.join(tmp, "rt.safetensors");
  writeSafetensors(
    file,
    new Map([
      ["x", { shape: [10, 100], data }],
      ["y.z", { shape: [], data: f32(42) }],
    ]),
    { metadata: { step: "3" } },
  );
  const r = readSafetensors(file);
  assert.deepEqual(new Uint32Array((r.tensors.get("x")!.data as Float32Array).buffer), bits);
  assert.deepEqual(r.tensors.get("x")!.shape, [10, 100]);
  assert.deepEqual(r.tensors.get("y.z")!.shape, []);
  assert.deepEqual(Array.from(r.tensors.get("y.z")!.data as Float32Array), [42]);
  assert.deepEqual(r.metadata, { format: "pt", step: "3" });
  assert.equal(r.tensors.get("x")!.dtype, "F32");
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.includes(".tmp-")),
    [],
    "no temp file left behind",
  );
});

test("F16 round trip of every finite half value is exact", () => {
  const vals: number[] = [];
  for (let h = 0; h < 65536; h++) if ((h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0) vals.push(h);
  const halves = new Uint16Array(vals);
  // the float32 values of those halves, via a hand-built F16 file
  const src = handBuilt(
    JSON.stringify({ h: { dtype: "F16", shape: [vals.length], data_offsets: [0, vals.length * 2] } }),
    [...new Uint8Array(halves.buffer)],
  );
  const x = decodeSafetensors(src).tensors.get("h")!.data as Float32Array;
  const out = encodeSafetensors(new Map([["h", { shape: [x.length], data: x }]]), { dtype: "F16" });
  const h = decodeHeader(out);
  assert.deepEqual(new Uint16Array(out.slice(h.dataStart).buffer), halves);
  assert.deepEqual(decodeSafetensors(out).tensors.get("h")!.data, x);
});

test("F16 overflow: ±Inf by default, an error naming the tensor on request", () => {
  const t = new Map([["big", { shape: [2], data: f32(1, -1e5) }]]);
  assert.equal(
    (decodeSafetensors(encodeSafetensors(t, { dtype: "F16" })).tensors.get("big")!.data as Float32Array)[1],
    -Infinity,
  );
  assert.throws(
    () => encodeSafetensors(t, { dtype: "F16", overflow: "error" }),
    /tensor "big": value -100000 at index 1 is out of float16 range/,
  );
});

test("SafetensorsFile reads tensors one at a time; float-only read rejects integers", () => {
  const bytes = handBuilt(
    JSON.stringify({
      ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] },
      w: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
    }),
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3f],
  );
  const file = tmpFile("lazy.safetensors", bytes);
  const f = SafetensorsFile.open(file);
  try {
    assert.deepEqual(f.names.sort(), ["ids", "w"]);
    assert.deepEqual(Array.from(f.readFloat32("w")), [1]);
    assert.throws(() => f.readFloat32("ids"), /lazy\.safetensors: tensor "ids" has dtype I64, expected a float dtype/);
    assert.throws(() => f.read("nope"), /no tensor "nope"/);
  } finally {
    f.close();
  }
  assert.equal(readHeader(file).dataStart, bytes.length - 12);
});

// every validation error names the file and (where there is one) the tensor
const bad: [string, Buffer, RegExp][] = [
  ["short", Buffer.from([1, 2, 3]), /short\.safetensors: truncated: 3 bytes, .*8-byte header length/],
  [
    "header-beyond-file",
    Buffer.concat([Buffer.from([100, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}")]),
    /header-beyond-file\.safetensors: truncated: the header needs 100 bytes but only 2 follow/,
  ],
  ["not-json", handBuilt("{nope", []), /not-json\.safetensors: the safetensors header is not valid JSON/],
  ["array", handBuilt("[]", []), /array\.safetensors: the safetensors header must be a JSON object/],
  [
    "dtype",
    handBuilt(JSON.stringify({ w: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }), [0, 0, 0, 0]),
    /dtype\.safetensors: tensor "w": unknown dtype "F12"; known: BOOL, U8/,
  ],
  [
    "range",
    handBuilt(JSON.stringify({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }), [0, 0, 0, 0]),
    /range\.safetensors: tensor "w": data_offsets \[0, 8\] are out of range: the data section has 4 bytes/,
  ],
  [
    "size",
    handBuilt(JSON.stringify({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }), [0, 0, 0, 0, 0, 0, 0, 0]),
    /size\.safetensors: tensor "w": shape \[3\] × F32 \(4 bytes\) = 12 bytes, but data_offsets \[0, 8\] span 8/,
  ],
  [
    "overlap",
    handBuilt(
      JSON.stringify({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }),
      [0, 0, 0, 0, 0, 0, 0, 0],
    ),
    /overlap\.safetensors: tensors "a" \[0, 8\] and "b" \[4, 8\] overlap/,
  ],
  [
    "gap",
    handBuilt(JSON.stringify({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), [0, 0, 0, 0, 0, 0, 0, 0]),
    /gap\.safetensors: bytes \[0, 4\) of the data section before tensor "a" belong to no tensor/,
  ],
  [
    "trailing",
    handBuilt(JSON.stringify({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }), [0, 0, 0, 0, 9]),
    /trailing\.safetensors: the data section has 5 bytes but the tensors end at byte 4/,
  ],
  [
    "offsets",
    handBuilt(JSON.stringify({ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }), [0, 0, 0, 0]),
    /offsets\.safetensors: tensor "a": data_offsets must be \[begin, end\]/,
  ],
  [
    "shape",
    handBuilt(JSON.stringify({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), [0, 0, 0, 0]),
    /shape\.safetensors: tensor "a": shape must be a list of non-negative integers/,
  ],
  [
    "meta",
    handBuilt(JSON.stringify({ __metadata__: { n: 3 } }), []),
    /meta\.safetensors: __metadata__\.n must be a string/,
  ],
  [
    "unreadable",
    handBuilt(JSON.stringify({ q: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }), [0]),
    /unreadable\.safetensors: tensor "q" has dtype F8_E4M3, which this reader does not convert/,
  ],
];
for (const [name, bytes, message] of bad) {
  test(`invalid file: ${name}`, () => {
    const file = tmpFile(`${name}.safetensors`, bytes);
    assert.throws(() => readSafetensors(file), message);
    assert.throws(() => decodeSafetensors(bytes, `${name}.safetensors`), message);
  });
}

test("a missing file and bad write inputs are clear errors", () => {
  assert.throws(
    () => readSafetensors(path.join(tmp, "absent.safetensors")),
    /cannot open safetensors file .*absent\.safetensors: ENOENT/,
  );
  assert.throws(
    () => encodeSafetensors(new Map([["w", { shape: [3], data: f32(1, 2) }]])),
    /tensor "w" has 2 values but shape \[3\] needs 3/,
  );
  assert.throws(() => encodeSafetensors(new Map(), { dtype: "BF16" as never }), /dtype must be "F32" or "F16"/);
  assert.throws(() => encodeSafetensors(new Map([["__metadata__", { shape: [1], data: f32(1) }]])), /reserved/);
});

test("a failed write leaves the previous file intact and no temp file", () => {
  const file = path.join(tmp, "keep.safetensors");
  writeSafetensors(file, new Map([["w", { shape: [1], data: f32(1) }]]));
  const before = fs.readFileSync(file);
  const lazyBad = new Map<string, TensorToWrite>([
    ["a", { shape: [1], data: f32(2) }],
    ["b", { shape: [2], data: () => f32(1) }], // wrong length, discovered while writing
  ]);
  assert.throws(
    () => writeSafetensors(file, lazyBad),
    /could not write .*keep\.safetensors: .*tensor "b" has 1 values but shape \[2\] needs 2/,
  );
  assert.deepEqual(fs.readFileSync(file), before);
  assert.deepEqual(
    fs.readdirSync(tmp).filter((f) => f.includes(".tmp-")),
    [],
  );
});

test("the same tensors give the same bytes whatever the insertion order (deterministic files)", () => {
  const a = new Map([
    ["x", { shape: [2], data: f32(1, 2) }],
    ["w", { shape: [1], data: f32(3) }],
  ]);
  const b = new Map([
    ["w", { shape: [1], data: f32(3) }],
    ["x", { shape: [2], data: f32(1, 2) }],
  ]);
  const meta = { z: "1", a: "2" };
  assert.deepEqual(encodeSafetensors(a, { metadata: meta }), encodeSafetensors(b, { metadata: { a: "2", z: "1" } }));
  assert.deepEqual(encodeSafetensors(a, { dtype: "F16" }), encodeSafetensors(b, { dtype: "F16" }));
});
