/** `dreambooth tokenize`: the 77 CLIP token ids Stable Diffusion 1.x feeds its text encoder. */
import { defineCommand } from "../command";
import { ClipTokenizer } from "../../lib/tokenizer";

export const command = defineCommand({
  name: "tokenize",
  summary: "print the CLIP token ids of a prompt (77, padded)",
  description: "Prints the 77 ids: <|startoftext|> (49406), the BPE pieces, <|endoftext|> (49407), padding (49407).",
  positionals: { name: '"<text>"', help: "the prompt, quoted", count: "one" },
  options: {
    json: { type: "boolean", help: "print the ids as a JSON array" },
    tokens: { type: "boolean", help: 'also print the BPE pieces, one "id piece" per line (to stderr)' },
    tokenizer: {
      type: "string",
      value: "<folder>",
      help: "a diffusers model folder (or its tokenizer/) with vocab.json + merges.txt (default: CLIP's merges, $CLIP_BPE_PATH)",
    },
  },
  async run(o, [text]) {
    const tok = o.tokenizer ? ClipTokenizer.fromFolder(o.tokenizer) : ClipTokenizer.fromMergesGz();
    const ids = tok.encode(text);
    process.stdout.write((o.json ? JSON.stringify(ids) : ids.join(" ")) + "\n");
    if (o.tokens) for (const p of tok.tokenize(text)) process.stderr.write(`${tok.encoder.get(p)} ${p}\n`);
    return 0;
  },
});
