/**
 * The CLIP byte-level BPE tokenizer, exactly as Stable Diffusion 1.x uses it.
 *
 * Source: openai/CLIP `clip/simple_tokenizer.py` (Radford et al. 2021) and its port, Hugging Face
 * transformers `CLIPTokenizer`. Steps, each one function below:
 *   1. clean: html-unescape (twice), strip, collapse whitespace, lower-case
 *      (`basic_clean` + `whitespace_clean` without ftfy's mojibake repair);
 *   2. pre-tokenize with CLIP's regex (words, single digits, runs of punctuation, contractions);
 *   3. map each word's UTF-8 bytes to printable characters (`bytes_to_unicode`, from GPT-2);
 *   4. byte-pair-merge the word, lowest merge rank first, with `</w>` marking its end (`bpe`);
 *   5. look the pieces up in the vocabulary; wrap in <|startoftext|> … <|endoftext|>, truncate to 77
 *      keeping the end token, pad with <|endoftext|> (SD 1.x's `tokenizer/special_tokens_map.json`
 *      has pad_token = "<|endoftext|>", id 49407).
 */
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";

export const START_OF_TEXT = "<|startoftext|>";
export const END_OF_TEXT = "<|endoftext|>";
/** CLIP's text context length (the text encoder's position embeddings). */
export const CONTEXT_LENGTH = 77;
/** Merges actually used: simple_tokenizer.py reads lines [1, 49152 - 256 - 2 + 1) of the file. */
export const NUM_MERGES = 49152 - 256 - 2;
/** 256 byte symbols + 256 with `</w>` + one per merge + 2 special tokens = 49,408. */
export const VOCAB_SIZE = 512 + NUM_MERGES + 2;

/**
 * CLIP's pre-tokenizer (simple_tokenizer.py `self.pat`, compiled with re.IGNORECASE).
 * `u` gives \p{L}/\p{N}; `i` matches the Python flag.
 */
export const CLIP_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/**
 * GPT-2's reversible byte → printable-character table (`bytes_to_unicode`): printable Latin-1 bytes
 * map to themselves, the other 68 bytes to U+0100 onwards. Returned in CLIP's vocabulary order
 * (the printable bytes first), which is the order of vocabulary ids 0..255.
 */
export function bytesToUnicode(): { bytes: number[]; chars: string[] } {
  const bs: number[] = [];
  for (let b = "!".charCodeAt(0); b <= "~".charCodeAt(0); b++) bs.push(b);
  for (let b = "¡".charCodeAt(0); b <= "¬".charCodeAt(0); b++) bs.push(b);
  for (let b = "®".charCodeAt(0); b <= "ÿ".charCodeAt(0); b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return { bytes: bs, chars: cs.map((c) => String.fromCharCode(c)) };
}

/** Minimal html.unescape: named entities common in captions plus numeric ones (&#39; &#x27;). */
const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  "#39": "'",
  copy: "©",
  reg: "®",
  trade: "™",
  hellip: "…",
  mdash: "—",
  ndash: "–",
  lsquo: "‘",
  rsquo: "’",
  ldquo: "“",
  rdquo: "”",
  laquo: "«",
  raquo: "»",
  deg: "°",
  eacute: "é",
  egrave: "è",
  agrave: "à",
  ccedil: "ç",
  uuml: "ü",
  ouml: "ö",
  auml: "ä",
  szlig: "ß",
};
export function htmlUnescape(s: string): string {
  return s.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);/g, (m, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return NAMED_ENTITIES[body] ?? m;
  });
}

/** Step 1: `whitespace_clean(basic_clean(text)).lower()` without ftfy. */
export function cleanText(text: string): string {
  return htmlUnescape(htmlUnescape(text)).trim().replace(/\s+/g, " ").trim().toLowerCase();
}

/**
 * The CLIP merges file (`bpe_simple_vocab_16e6.txt.gz`): $CLIP_BPE_PATH, else the copy shipped in
 * the repository (`assets/clip-bpe/`, MIT licence beside it), else `../shared/data/clip-bpe/`.
 */
// reads: assets/clip-bpe
export function defaultMergesPath(): string {
  const env = process.env.CLIP_BPE_PATH;
  if (env) return env;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`cannot find the repository root (package.json) above ${__dirname}; set CLIP_BPE_PATH`);
    dir = up;
  }
  const shipped = path.join(dir, "assets", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz");
  if (fs.existsSync(shipped)) return shipped;
  return path.join(dir, "..", "shared", "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz");
}

export interface EncodeOptions {
  /** total length including start and end tokens; default 77 */
  length?: number;
  /** pad to `length` with <|endoftext|>; default true */
  pad?: boolean;
}

export class ClipTokenizer {
  readonly encoder: Map<string, number>;
  readonly decoder: Map<number, string>;
  readonly bpeRanks: Map<string, number>;
  readonly startId: number;
  readonly endId: number;
  readonly padId: number;
  private readonly byteEncoder: string[];
  private readonly byteDecoder: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  /**
   * @param merges pairs in priority order (rank = index), already sliced to the ones in use
   * @param vocab token → id; when omitted it is built the way simple_tokenizer.py builds it
   */
  constructor(merges: [string, string][], vocab?: Map<string, number>) {
    const { bytes, chars } = bytesToUnicode();
    this.byteEncoder = new Array<string>(256);
    this.byteDecoder = new Map();
    bytes.forEach((b, i) => {
      this.byteEncoder[b] = chars[i];
      this.byteDecoder.set(chars[i], b);
    });
    this.bpeRanks = new Map();
    merges.forEach(([a, b], i) => {
      const key = a + " " + b;
      if (!this.bpeRanks.has(key)) this.bpeRanks.set(key, i);
    });
    this.encoder = vocab ?? ClipTokenizer.vocabFromMerges(merges);
    this.decoder = new Map();
    for (const [tok, id] of this.encoder) this.decoder.set(id, tok);
    const id = (t: string) => {
      const v = this.encoder.get(t);
      if (v === undefined) throw new Error(`tokenizer vocabulary has no ${t} token`);
      return v;
    };
    this.startId = id(START_OF_TEXT);
    this.endId = id(END_OF_TEXT);
    this.padId = this.endId;
    this.cache.set(START_OF_TEXT, [START_OF_TEXT]);
    this.cache.set(END_OF_TEXT, [END_OF_TEXT]);
  }

  /** simple_tokenizer.py: vocab = bytes, bytes + `</w>`, one concatenation per merge, then the two special tokens. */
  static vocabFromMerges(merges: [string, string][]): Map<string, number> {
    const { chars } = bytesToUnicode();
    const list = [
      ...chars,
      ...chars.map((c) => c + "</w>"),
      ...merges.map(([a, b]) => a + b),
      START_OF_TEXT,
      END_OF_TEXT,
    ];
    const vocab = new Map<string, number>();
    list.forEach((t, i) => vocab.set(t, i)); // a repeated entry takes its last id, like Python's dict(zip(vocab, range))
    return vocab;
  }

  /** Parses merges text: first line a header (`#version: ...` or the file name), then `a b` per line. */
  static parseMerges(text: string, source: string, count = NUM_MERGES): [string, string][] {
    const lines = text
      .replace(/\r\n/g, "\n")
      .trim()
      .split("\n")
      .slice(1, 1 + count);
    if (lines.length < count) {
      throw new Error(`${source}: expected at least ${count} merges after the header line, found ${lines.length}`);
    }
    return lines.map((l, i) => {
      const parts = l.split(" ");
      if (parts.length !== 2 || !parts[0] || !parts[1])
        throw new Error(`${source}: line ${i + 2} is not a merge "a b": ${JSON.stringify(l)}`);
      return [parts[0], parts[1]];
    });
  }

  /** From openai/CLIP's `bpe_simple_vocab_16e6.txt.gz` (default: the copy beside the repository, or $CLIP_BPE_PATH). */
  static fromMergesGz(file: string = defaultMergesPath()): ClipTokenizer {
    if (!fs.existsSync(file)) {
      throw new Error(
        `CLIP merges file not found: ${file} (pass its path, or set CLIP_BPE_PATH to bpe_simple_vocab_16e6.txt.gz)`,
      );
    }
    const text = zlib.gunzipSync(fs.readFileSync(file)).toString("utf8");
    return new ClipTokenizer(ClipTokenizer.parseMerges(text, file));
  }

  /** From a diffusers model folder (or its `tokenizer/` folder): `vocab.json` + `merges.txt`. */
  static fromFolder(dir: string): ClipTokenizer {
    const d = fs.existsSync(path.join(dir, "tokenizer", "vocab.json")) ? path.join(dir, "tokenizer") : dir;
    const vocabPath = path.join(d, "vocab.json");
    const mergesPath = path.join(d, "merges.txt");
    for (const p of [vocabPath, mergesPath]) {
      if (!fs.existsSync(p))
        throw new Error(
          `tokenizer file not found: ${p} (expected a diffusers folder with tokenizer/vocab.json and tokenizer/merges.txt)`,
        );
    }
    const raw = JSON.parse(fs.readFileSync(vocabPath, "utf8")) as Record<string, number>;
    const vocab = new Map<string, number>(Object.entries(raw));
    // transformers CLIPTokenizer: merges.txt read().strip().split("\n")[1 : 49152 - 256 - 2 + 1]
    const text = fs.readFileSync(mergesPath, "utf8");
    const total = text.trim().split("\n").length - 1;
    return new ClipTokenizer(ClipTokenizer.parseMerges(text, mergesPath, Math.min(NUM_MERGES, total)), vocab);
  }

  /** Step 4: byte-pair merges of one byte-encoded word (simple_tokenizer.py `bpe`), cached. */
  bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + "</w>"];
    while (word.length > 1) {
      // the adjacent pair with the lowest merge rank
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.bpeRanks.get(word[i] + " " + word[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      // merge every occurrence, left to right, without overlap
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i += 1;
        }
      }
      word = next;
    }
    this.cache.set(token, word);
    return word;
  }

  /** Steps 1–4: the BPE pieces of `text`, without start/end tokens (e.g. ["a</w>", "photo</w>"]). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const m of cleanText(text).matchAll(CLIP_PATTERN)) {
      const word =
        m[0] === START_OF_TEXT || m[0] === END_OF_TEXT
          ? m[0]
          : Array.from(Buffer.from(m[0], "utf8"), (b) => this.byteEncoder[b]).join("");
      out.push(...this.bpe(word));
    }
    return out;
  }

  /** Ids of the pieces of `text`, without start/end tokens. */
  tokenIds(text: string): number[] {
    return this.tokenize(text).map((t) => {
      const id = this.encoder.get(t);
      if (id === undefined)
        throw new Error(`BPE piece ${JSON.stringify(t)} is not in the vocabulary: merges and vocab.json disagree`);
      return id;
    });
  }

  /**
   * Step 5: [<|startoftext|>, ids…, <|endoftext|>, padding…] of exactly `length` (77) ids;
   * longer texts are truncated to length − 2 pieces (transformers' truncation keeps both special tokens).
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const length = opts.length ?? CONTEXT_LENGTH;
    if (!Number.isInteger(length) || length < 2)
      throw new Error(`encode: length must be an integer >= 2 (got ${length})`);
    const ids = [this.startId, ...this.tokenIds(text).slice(0, length - 2), this.endId];
    if (opts.pad ?? true) while (ids.length < length) ids.push(this.padId);
    return ids;
  }

  /** `encode` for several texts: one row of `length` ids per text. */
  encodeBatch(texts: string[], opts: EncodeOptions = {}): number[][] {
    return texts.map((t) => this.encode(t, opts));
  }

  /** Ids back to text (simple_tokenizer.py `decode`); special tokens are dropped unless `keepSpecial`. */
  decode(ids: ArrayLike<number>, keepSpecial = false): string {
    let s = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!keepSpecial && (id === this.startId || id === this.endId || id === this.padId)) continue;
      const t = this.decoder.get(id);
      if (t === undefined) throw new Error(`decode: id ${id} is not in the vocabulary (size ${this.decoder.size})`);
      s += t;
    }
    const bytes: number[] = [];
    let text = "";
    const flush = () => {
      text += Buffer.from(bytes).toString("utf8");
      bytes.length = 0;
    };
    // special tokens are not byte-encoded: copy them through
    for (const part of s.split(/(<\|startoftext\|>|<\|endoftext\|>)/)) {
      if (part === START_OF_TEXT || part === END_OF_TEXT) {
        flush();
        text += part;
        continue;
      }
      for (const ch of part.replace(/<\/w>/g, " ")) {
        const b = ch === " " ? 0x20 : this.byteDecoder.get(ch);
        if (b === undefined) throw new Error(`decode: character ${JSON.stringify(ch)} is not a byte symbol`);
        bytes.push(b);
      }
    }
    flush();
    return text.trim();
  }

  /** Number of ids (49,408 for CLIP). */
  get vocabSize(): number {
    return this.encoder.size;
  }
}

let shared: ClipTokenizer | undefined;
/** The CLIP tokenizer from the default merges file, built once per process. */
export function clipTokenizer(): ClipTokenizer {
  return (shared ??= ClipTokenizer.fromMergesGz());
}
