/** `dreambooth tokenize`: the 77 CLIP token ids Stable Diffusion 1.x feeds its text encoder. */
import { Command, bool, parseArgs, str, UsageError } from "../command";
import { ClipTokenizer } from "../../lib/tokenizer";

const usage = `usage: dreambooth tokenize "<text>" [--json] [--tokens] [--tokenizer <dir>]

Prints the 77 ids: <|startoftext|> (49406), the BPE pieces, <|endoftext|> (49407), padding (49407).
  --json             print the ids as a JSON array
  --tokens           also print the BPE pieces, one "id piece" per line
  --tokenizer <dir>  a diffusers model folder (or its tokenizer/ folder) with vocab.json + merges.txt;
                     default: CLIP's bpe_simple_vocab_16e6.txt.gz ($CLIP_BPE_PATH overrides its location)`;

export const command: Command = {
  name: "tokenize",
  summary: "print the CLIP token ids of a prompt (77, padded)",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["tokenizer"], ["json", "tokens"]);
    if (args.positional.length !== 1) throw new UsageError(`expected one quoted text, got ${args.positional.length} arguments\n${usage}`);
    const text = args.positional[0];
    const dir = str(args, "tokenizer");
    const tok = dir ? ClipTokenizer.fromFolder(dir) : ClipTokenizer.fromMergesGz();
    const ids = tok.encode(text);
    if (bool(args, "json")) {
      process.stdout.write(JSON.stringify(ids) + "\n");
    } else {
      process.stdout.write(ids.join(" ") + "\n");
    }
    if (bool(args, "tokens")) {
      const pieces = tok.tokenize(text);
      for (const p of pieces) process.stderr.write(`${tok.encoder.get(p)} ${p}\n`);
    }
    return 0;
  },
};
