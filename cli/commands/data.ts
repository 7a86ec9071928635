/** `dreambooth data`: write the captioned face dataset and the subject's instance images. */
import path from "path";
import { defineCommand } from "../command";
import { SPLITS, Split, writeDataset, writeInstanceImages, writePackedDataset } from "../../lib/data";

export const command = defineCommand({
  name: "data",
  summary: "write the captioned face dataset (train/val/test) and the subject's instance images",
  description: `Writes the face dataset and the DreamBooth subject:
  <out>/faces/{train,val,test}/   numbered PNGs + metadata.jsonl (file, seed, caption, attributes)
                                  (--format packed: <out>/faces/{train,val,test}.pack instead, one file
                                  per split: header + uint8 RGB + JSONL captions)
  <out>/instance/                 the 5 instance images + metadata.json ("a photo of sks person")
Splits use disjoint face seeds; the same arguments give the same bytes.`,
  options: {
    out: { type: "string", value: "<folder>", default: "data", help: "where to write" },
    size: { type: "integer", min: 8, max: 1024, default: 64, help: "image side in pixels" },
    train: { type: "integer", min: 0, max: 2 ** 24, default: 2000, help: "training faces" },
    val: { type: "integer", min: 0, max: 2 ** 24, default: 200, help: "validation faces" },
    test: { type: "integer", min: 0, max: 2 ** 24, default: 200, help: "test faces" },
    seed: { type: "integer", min: 0, max: 2 ** 26, default: 0, help: "dataset seed" },
    format: {
      type: "string",
      choices: ["png", "packed"],
      default: "png",
      help: "one PNG per face, or one packed file per split",
    },
    "instance-out": {
      type: "string",
      value: "<folder>",
      help: "where the instance images go (default: <out>/instance)",
    },
    "no-instance": { type: "boolean", help: "skip the instance images" },
  },
  async run(o) {
    const counts: Record<Split, number> = { train: o.train, val: o.val, test: o.test };
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
      const opts = { count: n, split, size: o.size, seed: o.seed, onProgress: (d: number) => progress(split, d, n) };
      if (o.format === "packed") await writePackedDataset(path.join(o.out, "faces", `${split}.pack`), opts);
      else await writeDataset(path.join(o.out, "faces", split), opts);
      done += n;
    }
    if (tty && total > 0) process.stderr.write("\n");
    const facesSeconds = (performance.now() - t0) / 1000;
    const instanceDir = o.instanceOut ?? path.join(o.out, "instance");
    const meta = o.noInstance ? undefined : await writeInstanceImages(instanceDir, o.size);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `wrote ${total} faces (${SPLITS.map((s) => `${s} ${counts[s]}`).join(", ")}) at ${o.size}×${o.size} to ${path.join(o.out, "faces")}` +
        (meta ? ` and ${meta.images.length} instance images to ${instanceDir}` : "") +
        ` in ${seconds.toFixed(1)} s` +
        (total > 0 ? ` (${(total / facesSeconds).toFixed(0)} faces/s)` : ""),
    );
    return 0;
  },
});
