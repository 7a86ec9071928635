import { test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { bytesToUnicode, cleanText, ClipTokenizer, defaultMergesPath, NUM_MERGES, VOCAB_SIZE } from "./clip";

const mergesPath = defaultMergesPath();
const tok = ClipTokenizer.fromMergesGz(mergesPath);

/**
 * A second, minimal derivation of vocabulary ids straight from the merges file, sharing no code with
 * clip.ts (simple_tokenizer.py's vocabulary order):
 *   - ids 0..93 are the printable ASCII bytes '!'..'~' in byte order (bytes_to_unicode lists them first),
 *   - ids 256..511 are the same symbols with `</w>`, so "x</w>" = 256 + id("x"),
 *   - id 512 + k is the concatenation of merge line k + 1 of the file (line 0 is the header),
 *   - 49406 / 49407 are <|startoftext|> / <|endoftext|>.
 */
const mergeLines = zlib.gunzipSync(fs.readFileSync(mergesPath)).toString("utf8").split("\n");
function independentId(token: string): number {
  if (token === "<|startoftext|>") return 49406;
  if (token === "<|endoftext|>") return 49407;
  const bare = token.endsWith("</w>") ? token.slice(0, -4) : token;
  if (bare.length === 1 && bare >= "!" && bare <= "~") return bare.charCodeAt(0) - 33 + (bare === token ? 0 : 256);
  for (let line = 1; line <= 48894; line++) {
    const [a, b] = mergeLines[line].split(" ");
    if (a + b === token) return 512 + line - 1;
  }
  throw new Error(`no merge creates ${token}`);
}

test("the merges file is openai/CLIP's bpe_simple_vocab_16e6.txt.gz (sha256 from its README)", () => {
  const sha = crypto.createHash("sha256").update(fs.readFileSync(mergesPath)).digest("hex");
  assert.equal(sha, "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a");
});

test("bytes_to_unicode: 256 distinct symbols, printable bytes map to themselves, space is U+0120", () => {
  const { bytes, chars } = bytesToUnicode();
  assert.equal(new Set(bytes).size, 256);
  assert.equal(new Set(chars).size, 256);
  assert.equal(chars[bytes.indexOf(0x61)], "a");
  // GPT-2's well-known 'Ġ' for a space byte, 'Ā' (U+0100) for byte 0
  assert.equal(chars[bytes.indexOf(0x20)], "\u0120");
  assert.equal(chars[bytes.indexOf(0x00)], "\u0100");
  assert.equal(bytes[0], 33); // '!' has id 0
});

test("vocabulary: 49,408 entries; special tokens 49406 / 49407 (CLIP; SD 1.x tokenizer_config.json)", () => {
  assert.equal(VOCAB_SIZE, 49408);
  assert.equal(NUM_MERGES, 48894);
  assert.equal(tok.vocabSize, 49408);
  assert.equal(tok.startId, 49406);
  assert.equal(tok.endId, 49407);
  assert.equal(tok.padId, 49407);
});

test("published ids agree with the independent derivation from the merges file", () => {
  // Commonly quoted CLIP ids ("a photo of a cat" → [49406, 320, 1125, 539, 320, 2368, 49407], person = 2533);
  // each number is checked here against the merges file before the tokenizer is compared with it.
  assert.equal(independentId("a</w>"), 320); // 256 + ('a' − '!') = 256 + 64
  assert.equal(independentId("photo</w>"), 1125);
  assert.equal(independentId("of</w>"), 539);
  assert.equal(independentId("cat</w>"), 2368);
  assert.equal(independentId("person</w>"), 2533);
  assert.deepEqual(tok.encode("a photo of a cat").slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
});

// Expected pieces by hand: CLIP's regex splits words, single digits and punctuation runs; each piece
// below is one whole vocabulary entry; ids come from `independentId` (the merges file), not from clip.ts.
const cases: [string, string[]][] = [
  ["a photo of sks person", ["a</w>", "photo</w>", "of</w>", "sks</w>", "person</w>"]],
  ["a photo of person", ["a</w>", "photo</w>", "of</w>", "person</w>"]],
  [
    "a photo of sks person without mustache, handsome, ultra realistic, 4k, 8k",
    [
      "a</w>",
      "photo</w>",
      "of</w>",
      "sks</w>",
      "person</w>",
      "without</w>",
      "mustache</w>",
      ",</w>",
      "handsome</w>",
      ",</w>",
      "ultra</w>",
      "realistic</w>",
      ",</w>",
      "4</w>",
      "k</w>",
      ",</w>",
      "8</w>",
      "k</w>",
    ],
  ],
  ["A  PHOTO\tof a Dog!!", ["a</w>", "photo</w>", "of</w>", "a</w>", "dog</w>", "!!</w>"]],
  ["it's 2023", ["it</w>", "'s</w>", "2</w>", "0</w>", "2</w>", "3</w>"]],
  ["salt &amp; pepper", ["salt</w>", "&</w>", "pepper</w>"]],
];

for (const [text, pieces] of cases) {
  test(`encode ${JSON.stringify(text)}`, () => {
    assert.deepEqual(tok.tokenize(text), pieces);
    const ids = tok.encode(text);
    assert.equal(ids.length, 77);
    const expected = [49406, ...pieces.map(independentId), 49407];
    assert.deepEqual(ids.slice(0, expected.length), expected);
    assert.ok(
      ids.slice(expected.length).every((id) => id === 49407),
      "padded with <|endoftext|>",
    );
  });
}

test("the paper's instance prompt: sks is one rare token, 48136", () => {
  assert.equal(independentId("sks</w>"), 48136);
  assert.deepEqual(tok.encode("a photo of sks person").slice(0, 7), [49406, 320, 1125, 539, 48136, 2533, 49407]);
});

test("words outside the vocabulary split into pieces that rebuild the word", () => {
  for (const w of ["dreambooth", "zerosnr", "café", "🤗", "ünïcödé"]) {
    const pieces = tok.tokenize(w);
    assert.ok(pieces.length >= 1);
    assert.ok(pieces[pieces.length - 1].endsWith("</w>"));
    for (const p of pieces) assert.ok(tok.encoder.has(p), `${p} in vocabulary`);
    assert.equal(tok.decode(tok.encode(w)), w);
  }
  assert.ok(tok.tokenize("dreambooth").length > 1);
});

test("BPE merges the lowest rank first and merges repeats left to right without overlap", () => {
  const t1 = new ClipTokenizer([
    ["a", "b"],
    ["b", "c</w>"],
    ["ab", "c</w>"],
  ]);
  assert.deepEqual(t1.bpe("abc"), ["abc</w>"]); // (a,b) rank 0, then (ab,c</w>) rank 2
  const t2 = new ClipTokenizer([
    ["b", "c</w>"],
    ["a", "b"],
  ]);
  assert.deepEqual(t2.bpe("abc"), ["a", "bc</w>"]); // (b,c</w>) rank 0 wins; (a,bc</w>) is no merge
  const t3 = new ClipTokenizer([["a", "a"]]);
  assert.deepEqual(t3.bpe("aaaa"), ["aa", "a", "a</w>"]); // a a a a</w>: pairs merged left to right
  assert.deepEqual(t3.bpe("x"), ["x</w>"]);
});

test("truncation keeps <|startoftext|> and <|endoftext|> (77 ids)", () => {
  const ids = tok.encode(Array(100).fill("a").join(" "));
  assert.equal(ids.length, 77);
  assert.equal(ids[0], 49406);
  assert.equal(ids[76], 49407);
  assert.ok(ids.slice(1, 76).every((id) => id === 320));
  assert.deepEqual(tok.encode("a photo", { length: 4 }), [49406, 320, 1125, 49407]);
  assert.deepEqual(tok.encode("a photo", { pad: false }), [49406, 320, 1125, 49407]);
  assert.throws(() => tok.encode("a", { length: 1 }), /length must be an integer >= 2/);
});

test("clean-up: html entities (twice), whitespace, case", () => {
  assert.equal(cleanText("  A&amp;amp;B\n\t Photo&#39;s  "), "a&b photo's");
  assert.deepEqual(tok.encode("A PHOTO  of\nSKS person"), tok.encode("a photo of sks person"));
});

test("decode inverts encode for cleaned text; special tokens kept on request", () => {
  const text = "a photo of sks person without mustache";
  assert.equal(tok.decode(tok.encode(text)), text);
  assert.equal(tok.decode([49406, 320, 49407], true), "<|startoftext|>a <|endoftext|>");
  assert.throws(() => tok.decode([123456]), /id 123456 is not in the vocabulary/);
});

test("a diffusers tokenizer folder (vocab.json + merges.txt) written from the gz gives the same ids", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clip-tok-"));
  try {
    const tdir = path.join(dir, "tokenizer");
    fs.mkdirSync(tdir);
    // vocab.json written by the independent derivation, not by clip.ts
    const vocab: Record<string, number> = {};
    const { chars } = bytesToUnicode();
    chars.forEach((c, i) => (vocab[c] = i));
    chars.forEach((c, i) => (vocab[c + "</w>"] = 256 + i));
    for (let line = 1; line <= 48894; line++) vocab[mergeLines[line].replace(" ", "")] = 512 + line - 1;
    vocab["<|startoftext|>"] = 49406;
    vocab["<|endoftext|>"] = 49407;
    fs.writeFileSync(path.join(tdir, "vocab.json"), JSON.stringify(vocab));
    // transformers' merges.txt: "#version: 0.2" header then the merges (here: all of them, as SD ships)
    fs.writeFileSync(path.join(tdir, "merges.txt"), ["#version: 0.2", ...mergeLines.slice(1, 48895)].join("\n") + "\n");
    for (const t of [ClipTokenizer.fromFolder(dir), ClipTokenizer.fromFolder(tdir)]) {
      for (const [text] of cases) assert.deepEqual(t.encode(text), tok.encode(text));
      assert.deepEqual(t.encode("dreambooth café 🤗"), tok.encode("dreambooth café 🤗"));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("missing files are clear errors naming the path", () => {
  assert.throws(
    () => ClipTokenizer.fromMergesGz("/nonexistent/bpe.txt.gz"),
    /CLIP merges file not found: \/nonexistent\/bpe\.txt\.gz.*CLIP_BPE_PATH/,
  );
  assert.throws(() => ClipTokenizer.fromFolder("/nonexistent-model"), /tokenizer file not found: .*vocab\.json/);
});

test("CLIP_BPE_PATH overrides the default merges path", () => {
  const old = process.env.CLIP_BPE_PATH;
  try {
    process.env.CLIP_BPE_PATH = "/elsewhere/merges.txt.gz";
    assert.equal(defaultMergesPath(), "/elsewhere/merges.txt.gz");
  } finally {
    if (old === undefined) delete process.env.CLIP_BPE_PATH;
    else process.env.CLIP_BPE_PATH = old;
  }
  assert.match(defaultMergesPath(), /clip-bpe[\\/]bpe_simple_vocab_16e6\.txt\.gz$/);
});
