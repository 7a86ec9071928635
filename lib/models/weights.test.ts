import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ParamSpec } from "./params";
import { readSafetensors, TensorToWrite, writeSafetensors } from "../io/safetensors";
import { readWeights, resolveWeightFiles, TEXT_ENCODER_IGNORE, writeWeights } from "./weights";
import { vaeCurrentName } from "./vae";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "weights-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
let dirCount = 0;
const newDir = () => {
  const d = path.join(tmp, `d${dirCount++}`);
  fs.mkdirSync(d);
  return d;
};

// a miniature U-Net-like component: one conv, one linear, one bias/norm
const specs: ParamSpec[] = [
  { name: "conv_in.weight", shape: [3, 3, 2, 4], layout: "conv2d" }, // torch [4, 2, 3, 3]
  { name: "conv_in.bias", shape: [4], layout: "same" },
  { name: "attn.to_q.weight", shape: [4, 6], layout: "linear" }, // torch [6, 4]
];
/** tfjs-layout values: element k of parameter p is p·100 + k (exact in fp16 too: all ≤ 2048 integers). */
function values(): Map<string, Float32Array> {
  return new Map(specs.map((s, p) => [s.name, Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, (_, k) => p * 100 + k)]));
}

test("writeWeights → readWeights is bit-exact in F32; the file is in torch layout", () => {
  const dir = newDir();
  const file = path.join(dir, "diffusion_pytorch_model.safetensors");
  const v = values();
  writeWeights(file, v, specs, { metadata: { model: "tiny" } });
  const back = readWeights(dir, specs);
  assert.deepEqual([...back.keys()], specs.map((s) => s.name));
  for (const s of specs) assert.deepEqual(back.get(s.name), v.get(s.name));
  // the file itself: torch shapes, and torch[o, i, y, x] = tfjs[y, x, i, o]
  const raw = readSafetensors(file);
  assert.deepEqual(raw.tensors.get("conv_in.weight")!.shape, [4, 2, 3, 3]);
  assert.deepEqual(raw.tensors.get("attn.to_q.weight")!.shape, [6, 4]);
  assert.equal(raw.metadata.model, "tiny");
  const t = raw.tensors.get("conv_in.weight")!.data as Float32Array;
  const f = v.get("conv_in.weight")!;
  const [o, i, y, x] = [3, 1, 2, 0];
  assert.equal(t[((o * 2 + i) * 3 + y) * 3 + x], f[((y * 3 + x) * 2 + i) * 4 + o]);
  const q = raw.tensors.get("attn.to_q.weight")!.data as Float32Array; // torch [6 out, 4 in]
  assert.equal(q[5 * 4 + 1], v.get("attn.to_q.weight")![1 * 6 + 5]);
});

test("F16 files round trip values exactly representable in half precision; shaped inputs are checked", () => {
  const dir = newDir();
  const v = values();
  const shaped = new Map(specs.map((s) => [s.name, { shape: s.shape, data: v.get(s.name)! }]));
  writeWeights(path.join(dir, "diffusion_pytorch_model.fp16.safetensors"), shaped, specs, { dtype: "F16" });
  assert.equal(readSafetensors(path.join(dir, "diffusion_pytorch_model.fp16.safetensors")).tensors.get("conv_in.bias")!.dtype, "F16");
  const back = readWeights(dir, specs); // only the fp16 variant exists: it is used
  for (const s of specs) assert.deepEqual(back.get(s.name), v.get(s.name));
});

test("component folders: model.safetensors, variant preference, sharded index", () => {
  const dir = newDir();
  writeWeights(path.join(dir, "model.safetensors"), values(), specs);
  assert.deepEqual(resolveWeightFiles(dir), [path.join(dir, "model.safetensors")]);
  const halves = new Map([...values()].map(([k, a]) => [k, a.map((x) => x + 0.5)]));
  writeWeights(path.join(dir, "model.fp16.safetensors"), halves, specs, { dtype: "F16" });
  assert.equal(readWeights(dir, specs).get("conv_in.bias")![0], 100); // full precision first
  assert.equal(readWeights(dir, specs, { variant: "fp16" }).get("conv_in.bias")![0], 100.5);

  // sharded: two files + index.json (transformers/diffusers `*.safetensors.index.json`)
  const sh = newDir();
  const v = values();
  const torchLayoutOf = (name: string) => readSafetensors(path.join(dir, "model.safetensors")).tensors.get(name)!;
  const shard = (names: string[]) =>
    new Map<string, TensorToWrite>(names.map((n) => [n, { shape: torchLayoutOf(n).shape, data: torchLayoutOf(n).data as Float32Array }]));
  writeSafetensors(path.join(sh, "diffusion_pytorch_model-00001-of-00002.safetensors"), shard(["conv_in.weight"]));
  writeSafetensors(path.join(sh, "diffusion_pytorch_model-00002-of-00002.safetensors"), shard(["conv_in.bias", "attn.to_q.weight"]));
  fs.writeFileSync(
    path.join(sh, "diffusion_pytorch_model.safetensors.index.json"),
    JSON.stringify({
      metadata: { total_size: 0 },
      weight_map: {
        "conv_in.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
        "conv_in.bias": "diffusion_pytorch_model-00002-of-00002.safetensors",
        "attn.to_q.weight": "diffusion_pytorch_model-00002-of-00002.safetensors",
      },
    }),
  );
  const back = readWeights(sh, specs);
  for (const s of specs) assert.deepEqual(back.get(s.name), v.get(s.name));
  // two shards holding the same tensor
  const dup = newDir();
  writeSafetensors(path.join(dup, "a.safetensors"), shard(["conv_in.bias"]));
  writeSafetensors(path.join(dup, "b.safetensors"), shard(["conv_in.bias"]));
  assert.throws(() => readWeights([path.join(dup, "a.safetensors"), path.join(dup, "b.safetensors")], specs), /tensor "conv_in.bias" is in both .*a\.safetensors and .*b\.safetensors/);
});

test("a text encoder file with transformers' position_ids buffer (I64) loads with TEXT_ENCODER_IGNORE", () => {
  const dir = newDir();
  const te: ParamSpec[] = [
    { name: "text_model.embeddings.token_embedding.weight", shape: [5, 2], layout: "same" },
    { name: "text_model.encoder.layers.0.self_attn.q_proj.weight", shape: [2, 2], layout: "linear" },
  ];
  const emb = Float32Array.from({ length: 10 }, (_, k) => k);
  const q = new Float32Array([1, 2, 3, 4]); // tfjs [in, out]
  // hand-built file: an I64 [1, 3] buffer next to the parameters, as transformers saves CLIPTextModel
  const header = JSON.stringify({
    "text_model.embeddings.position_ids": { dtype: "I64", shape: [1, 3], data_offsets: [0, 24] },
    "text_model.embeddings.token_embedding.weight": { dtype: "F32", shape: [5, 2], data_offsets: [24, 64] },
    "text_model.encoder.layers.0.self_attn.q_proj.weight": { dtype: "F32", shape: [2, 2], data_offsets: [64, 80] },
  });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const ids = new BigInt64Array([0n, 1n, 2n]);
  const qTorch = new Float32Array([1, 3, 2, 4]); // torch [out, in] = transpose of tfjs [in, out]
  fs.writeFileSync(
    path.join(dir, "model.safetensors"),
    Buffer.concat([len, Buffer.from(header), Buffer.from(ids.buffer), Buffer.from(emb.buffer), Buffer.from(qTorch.buffer)]),
  );
  assert.throws(() => readWeights(dir, te), /unexpected 1: text_model\.embeddings\.position_ids \[1, 3\]/);
  const w = readWeights(dir, te, { ignore: TEXT_ENCODER_IGNORE });
  assert.deepEqual(w.get("text_model.embeddings.token_embedding.weight"), emb);
  assert.deepEqual(w.get("text_model.encoder.layers.0.self_attn.q_proj.weight"), q);
  assert.equal(readWeights(dir, te, { ignore: [/position_ids$/] }).size, 2);
});

test("missing, unexpected and mis-shaped tensors are one error with names and both shapes", () => {
  const dir = newDir();
  const file = path.join(dir, "diffusion_pytorch_model.safetensors");
  writeWeights(file, values(), specs);
  const expected: ParamSpec[] = [
    { name: "conv_in.weight", shape: [3, 3, 8, 4], layout: "conv2d" }, // file has torch [4, 2, 3, 3]
    { name: "conv_in.bias", shape: [4], layout: "same" },
    { name: "time_embedding.linear_1.weight", shape: [4, 16], layout: "linear" },
  ];
  assert.throws(
    () => readWeights(dir, expected),
    (e: Error) => {
      assert.match(e.message, /weights in .*diffusion_pytorch_model\.safetensors do not match the model \(3 parameters expected, 3 tensors in the file\)/);
      assert.match(e.message, /missing 1: time_embedding\.linear_1\.weight \[16, 4\]/);
      assert.match(e.message, /unexpected 1: attn\.to_q\.weight \[6, 4\]/);
      assert.match(e.message, /wrong shape 1: conv_in\.weight: file \[4, 2, 3, 3\] vs expected \[4, 8, 3, 3\] \(torch; tfjs \[3, 3, 8, 4\], layout conv2d\)/);
      return true;
    },
  );
  // many offenders: the first five, then a count
  const many: ParamSpec[] = Array.from({ length: 8 }, (_, k) => ({ name: `extra.${k}`, shape: [1], layout: "same" as const }));
  assert.throws(() => readWeights(file, [...specs, ...many]), /missing 8: extra\.0 \[1\]; extra\.1 \[1\]; extra\.2 \[1\]; extra\.3 \[1\]; extra\.4 \[1\]; … \(\+3 more\)/);
});

test("folders without weights, bad indexes and bad inputs to writeWeights are clear errors", () => {
  const dir = newDir();
  fs.writeFileSync(path.join(dir, "diffusion_pytorch_model.bin"), "");
  assert.throws(() => readWeights(dir, specs), /no safetensors weights in .*: looked for diffusion_pytorch_model\.safetensors, .*found diffusion_pytorch_model\.bin \(convert \.bin\/\.ckpt to safetensors first\)/);
  assert.throws(() => readWeights(path.join(dir, "nope"), specs), /weights not found: .*nope/);
  fs.writeFileSync(path.join(dir, "x.safetensors.index.json"), JSON.stringify({ weight_map: { a: "missing.safetensors" } }));
  assert.throws(() => readWeights(path.join(dir, "x.safetensors.index.json"), specs), /shard missing\.safetensors named in weight_map is missing/);
  const v = values();
  v.delete("conv_in.bias");
  v.set("stray", new Float32Array(1));
  v.set("attn.to_q.weight", new Float32Array(5));
  assert.throws(
    () => writeWeights(path.join(dir, "out.safetensors"), v, specs),
    /cannot write .*out\.safetensors: the parameters do not match the model's specs:\n {2}missing 1: conv_in\.bias \[4\]\n {2}unexpected 1: stray\n {2}wrong shape 1: attn\.to_q\.weight: 5 values vs expected 24 for \[4, 6\]/,
  );
  const shaped = new Map(specs.map((s) => [s.name, { shape: [...s.shape].reverse(), data: values().get(s.name)! }]));
  assert.throws(() => writeWeights(path.join(dir, "out.safetensors"), shaped, specs), /conv_in\.weight: given \[4, 2, 3, 3\] vs expected \[3, 3, 2, 4\] \(tfjs\)/);
  assert.equal(fs.existsSync(path.join(dir, "out.safetensors")), false);
});

test("rename maps a file's old tensor names to the spec's (SD 1.x VAE attention: query → to_q)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rename-"));
  const file = path.join(dir, "diffusion_pytorch_model.safetensors");
  // torch layout [out, in] for a linear; the spec is tfjs [in, out]
  writeSafetensors(file, new Map<string, TensorToWrite>([["encoder.mid_block.attentions.0.query.weight", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }]]));
  const specs: ParamSpec[] = [{ name: "encoder.mid_block.attentions.0.to_q.weight", shape: [3, 2], layout: "linear" }];
  assert.throws(() => readWeights(file, specs), /missing 1: encoder.mid_block.attentions.0.to_q.weight/);
  const w = readWeights(file, specs, { rename: vaeCurrentName });
  assert.deepEqual(Array.from(w.get("encoder.mid_block.attentions.0.to_q.weight")!), [1, 4, 2, 5, 3, 6]);
  fs.rmSync(dir, { recursive: true, force: true });
});
