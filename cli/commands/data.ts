/** `dreambooth data`: write the captioned face dataset and the subject's instance images. */
import path from "path";
import { Command, int, oneOf, parseArgs, str, UsageError } from "../command";
import { SPLITS, Split, writeDataset, writeInstanceImages, writePackedDataset } from "../../lib/data";

const usage = `usage: dreambooth data [--out data] [--size 64] [--train N] [--val N] [--test N] [--seed S]
                      [--format png|packed] [--instance-out <dir> | --no-instance]

Writes the face dataset and the DreamBooth subject:
  <out>/faces/{train,val,test}/   numbered PNGs + metadata.jsonl (file, seed, caption, attributes)
                                  (--format packed: <out>/faces/{train,val,test}.pack instead, one file
                                  per split: header + uint8 RGB + JSONL captions)
  <out>/instance/                 the 5 instance images + metadata.json ("a photo of sks person");
                                  --instance-out puts them elsewhere, --no-instance skips them
Defaults: --out data --size 64 --train 2000 --val 200 --test 200 --seed 0 --format png.
Splits use disjoint face seeds; the same arguments give the same bytes.`;

const FORMATS = ["png", "packed"] as const;

export const command: Command = {
  name: "data",
  summary: "write the captioned face dataset (train/val/test) and the subject's instance images",
  usage,
  async run(argv) {
    const args = parseArgs(argv, ["out", "size", "train", "val", "test", "seed", "format", "instance-out"], ["no-instance"]);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"\n${usage}`);
    const out = str(args, "out", "data")!;
    const size = int(args, "size", 64)!;
    const seed = int(args, "seed", 0)!;
    const format = oneOf(args, "format", FORMATS, "png");
    if (size < 8 || size > 1024) throw new UsageError(`--size must be in [8, 1024] (got ${size})`);
    if (seed < 0 || seed > 2 ** 26) throw new UsageError(`--seed must be in [0, 2^26] (got ${seed})`);
    const counts: Record<Split, number> = { train: int(args, "train", 2000)!, val: int(args, "val", 200)!, test: int(args, "test", 200)! };
    for (const s of SPLITS) if (counts[s] < 0 || counts[s] > 2 ** 24) throw new UsageError(`--${s} must be in [0, 2^24] (got ${counts[s]})`);

    const t0 = performance.now();
    const total = SPLITS.reduce((a, s) => a + counts[s], 0);
    let done = 0;
    let last = 0;
    const tty = process.stderr.isTTY;
    const progress = (split: string, d: number, n: number) => {
      const now = performance.now();
      // one line, redrawn at most 4 times a second on a terminal; every 10 % otherwise
      if (tty ? now - last < 250 && d < n : d < n && d % Math.max(1, Math.ceil(n / 10)) !== 0) return;
      last = now;
      const rate = (done + d) / ((now - t0) / 1000);
      const line = `${split}: ${d}/${n}  (${done + d}/${total} faces, ${rate.toFixed(0)}/s)`;
      process.stderr.write(tty ? `\r${line}\x1b[K` : line + "\n");
    };
    for (const split of SPLITS) {
      const n = counts[split];
      if (n === 0) continue;
      const opts = { count: n, split, size, seed, onProgress: (d: number) => progress(split, d, n) };
      if (format === "packed") await writePackedDataset(path.join(out, "faces", `${split}.pack`), opts);
      else await writeDataset(path.join(out, "faces", split), opts);
      done += n;
    }
    if (tty && total > 0) process.stderr.write("\n");
    const facesSeconds = (performance.now() - t0) / 1000;
    const instanceDir = str(args, "instance-out", path.join(out, "instance"))!;
    const meta = args.flags.has("no-instance") ? undefined : await writeInstanceImages(instanceDir, size);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `wrote ${total} faces (${SPLITS.map((s) => `${s} ${counts[s]}`).join(", ")}) at ${size}×${size} to ${path.join(out, "faces")}` +
        (meta ? ` and ${meta.images.length} instance images to ${instanceDir}` : "") +
        ` in ${seconds.toFixed(1)} s` +
        (total > 0 ? ` (${(total / facesSeconds).toFixed(0)} faces/s)` : ""),
    );
    return 0;
  },
};
