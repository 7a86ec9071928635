/**
 * The pipeline pointed at another Stable Diffusion folder through one parameter (`base.model`), at its
 * own resolution: the comparison's stages (class images, every fine-tuning, samples, scores, verdicts,
 * figures) run on a small diffusers-format folder in a temporary directory, as a user with a GPU runs
 * them on SD 1.5 (`dvc exp run -S base.model=… -S base.resolution=512 …`). Tiny counts keep it short.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import sharp from "sharp";
import { parseYaml, stringifyYaml } from "./yaml";
import { repro } from "./repro";
import { readLock } from "./lock";
import { writeInstanceImages } from "../data/subject";

const root = path.resolve(__dirname, "..", "..");

/** A diffusers folder whose own resolution is 32 pixels: the embedded model's weights, sample sizes halved. */
function smallSdFolder(dir: string): void {
  for (const part of ["model_index.json", "scheduler", "text_encoder", "tokenizer", "unet", "vae"]) {
    fs.cpSync(path.join(root, "models", "tiny-sd", part), path.join(dir, part), { recursive: true });
  }
  for (const [part, size] of [
    ["unet", 8],
    ["vae", 32],
  ] as const) {
    const f = path.join(dir, part, "config.json");
    fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, "utf8")), sample_size: size }, null, 2));
  }
}

test(
  "one parameter points the whole comparison at another diffusers folder, at its resolution",
  { timeout: 600_000 },
  async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "other-sd-"));
    try {
      const sd = path.join(tmp, "small-sd");
      smallSdFolder(sd);
      const repo = path.join(tmp, "repo");
      fs.mkdirSync(repo);
      for (const p of [
        "bin",
        "native",
        "cli",
        "lib",
        "dist",
        "node_modules",
        "models",
        "assets",
        "package.json",
        "tsconfig.json",
        "tsconfig.build.json",
      ]) {
        fs.symlinkSync(path.join(root, p), path.join(repo, p));
      }
      fs.copyFileSync(path.join(root, "dvc.yaml"), path.join(repo, "dvc.yaml"));
      fs.copyFileSync(path.join(root, ".dvcignore"), path.join(repo, ".dvcignore"));
      await writeInstanceImages(path.join(repo, "data"), 64);
      const params = parseYaml(fs.readFileSync(path.join(root, "params.yaml"), "utf8"), "params.yaml") as Record<
        string,
        Record<string, unknown>
      >;
      params.base = { model: sd, resolution: 32 };
      Object.assign(params.class_images, { count: 2, steps: 2 });
      Object.assign(params.dreambooth, { steps: 2, train_seeds: [0, 1] });
      Object.assign(params.samples, { seeds: 2, steps: 2 });
      params.figures = { comparison_seeds: 2 };
      fs.writeFileSync(path.join(repo, "params.yaml"), stringifyYaml(params));

      const lines: string[] = [];
      const targets = ["compare", "fig_effects", "fig1_components", "fig6_comparison", "fig7_prompts"];
      const r = await repro({ root: repo, targets, log: (l) => lines.push(l), stdio: "ignore" });
      assert.equal(r.exitCode, 0, lines.join("\n"));
      // the fine-tunings of both training seeds ran, from the other folder
      const ran = r.stages.filter((s) => s.status === "ran").map((s) => s.name);
      for (const name of [
        "class_images",
        "dreambooth@linear-0",
        "dreambooth@sigmoid-ztsnr-noprior-1",
        "samples@sigmoid-1",
        "compare",
      ]) {
        assert.ok(ran.includes(name), `${name} ran (${ran.join(", ")})`);
      }
      const lock = readLock(repo);
      assert.equal(
        lock.get("class_images")!.deps!.find((d) => d.path === sd)?.path,
        sd,
        "the folder is a recorded dependency",
      );
      // images at the folder's resolution
      for (const f of [
        path.join(repo, "runs", "class-images", "0000.png"),
        path.join(repo, "runs", "samples", "linear", "1", "paper", "seed-001.png"),
      ]) {
        const m = await sharp(f).metadata();
        assert.deepEqual([m.width, m.height], [32, 32], f);
      }
      const claims = JSON.parse(fs.readFileSync(path.join(repo, "metrics", "claims.json"), "utf8")) as {
        verdict: string;
        seeds: number;
      }[];
      assert.ok(
        claims.length >= 6 &&
          claims.every((c) => c.seeds === 2 && ["supported", "contradicted", "not resolved"].includes(c.verdict)),
      );
      assert.ok(fs.existsSync(path.join(repo, "paper-figures", "effects.png")));
      const fig1 = fs.readFileSync(path.join(repo, "paper-figures", "fig1-components.json"), "utf8");
      assert.ok(fig1.includes("small-sd"), "fig1 is drawn from the folder given");
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
