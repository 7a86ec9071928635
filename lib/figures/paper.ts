/**
 * The paper's figures, rebuilt from this pipeline's outputs, each as a PNG with the numbers behind it
 * as JSON: fig1 components, fig2 method, fig3 instance images, fig4 class images, fig5 overview,
 * fig6 the four-way comparison, fig7 other prompts, table1 the environment.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { diagramPng } from "./diagram";
import { loadComponentConfigs, componentParamCounts } from "../models/components";
import { vaeDownscaleFactor } from "../models/vae";
import { readSchedulerConfig } from "../pipeline/stable-diffusion";
import { imageGrid, GridImage, svgToPng } from "../plot/render";
import { readImageRgb } from "../data/images";
import { writeFileAtomic } from "../io/atomic";
import { currentBackend } from "../backend";
import sharp from "sharp";

const fmtCount = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${(n / 1e3).toFixed(0)} k`);

function write(out: string, name: string, png: Buffer, data: unknown): string[] {
  fs.mkdirSync(out, { recursive: true });
  const p = path.join(out, `${name}.png`);
  const j = path.join(out, `${name}.json`);
  writeFileAtomic(p, png);
  writeFileAtomic(j, JSON.stringify(data, null, 2) + "\n");
  return [p, j];
}

/** Fig. 1: Stable Diffusion's components, drawn from the model folder actually used, with parameter counts. */
export async function fig1Components(model: string, out: string): Promise<string[]> {
  const configs = loadComponentConfigs(model);
  const counts = componentParamCounts(configs);
  const sched = readSchedulerConfig(model);
  const u = configs.unet;
  const f = vaeDownscaleFactor(configs.vae);
  const size = u.sample_size * f;
  const png = await diagramPng({
    title: `Stable Diffusion components (${path.basename(model)})`,
    boxes: [
      { id: "prompt", lines: ["prompt", '"a photo of sks person"'], col: 0, row: 0, fill: "#f5f5f5" },
      {
        id: "te",
        lines: [
          "CLIP text encoder",
          `${fmtCount(counts.textEncoder)} params`,
          `${configs.textEncoder.num_hidden_layers} layers × ${configs.textEncoder.hidden_size}`,
        ],
        col: 1,
        row: 0,
      },
      {
        id: "unet",
        lines: [
          "U-Net (trained)",
          `${fmtCount(counts.unet)} params`,
          `channels ${u.block_out_channels.join("/")}`,
          `${u.sample_size}×${u.sample_size}×${u.in_channels} latents`,
        ],
        col: 2,
        row: 0,
        fill: "#fde9d9",
      },
      {
        id: "sched",
        lines: [
          "noise scheduler",
          `${sched.schedule.kind}${sched.schedule.zeroTerminalSnr ? " + zero terminal SNR" : ""}`,
          `T = ${sched.schedule.timesteps ?? 1000}, ${sched.predictionType}`,
        ],
        col: 2,
        row: 1,
        fill: "#e8f5e9",
      },
      {
        id: "vae",
        lines: ["VAE decoder", `${fmtCount(counts.vae)} params (whole VAE)`, `${f}× upsampling`],
        col: 3,
        row: 0,
      },
      { id: "image", lines: ["image", `${size}×${size} RGB`], col: 3, row: 1, fill: "#f5f5f5" },
      { id: "noise", lines: ["x_T ~ N(0, I)"], col: 1, row: 1, fill: "#f5f5f5" },
    ],
    arrows: [
      { from: "prompt", to: "te", label: "77 tokens" },
      { from: "te", to: "unet", label: "text states" },
      { from: "noise", to: "unet" },
      { from: "sched", to: "unet" },
      { from: "unet", to: "vae", label: "z_0" },
      { from: "vae", to: "image" },
    ],
  });
  return write(out, "fig1-components", png, {
    model,
    parameters: counts,
    unet: u,
    vae: configs.vae,
    textEncoder: configs.textEncoder,
    scheduler: sched,
  });
}

/** Fig. 2: the method: what the paper changes in the forward process. */
export async function fig2Method(out: string): Promise<string[]> {
  const png = await diagramPng({
    title: "Improved DreamBooth: the forward process is the only change",
    cellW: 230,
    boxes: [
      { id: "lin", lines: ["baseline", "linear β: 1e-4 … 0.02", "T = 1000"], col: 0, row: 0, fill: "#f5f5f5" },
      {
        id: "sig",
        lines: ["sigmoid β schedule", "sigmoid(linspace(−6, 6))", "× (β_end − β_start) + β_start"],
        col: 1,
        row: 0,
        fill: "#e8f5e9",
      },
      {
        id: "zt",
        lines: ["zero terminal SNR", "(Algorithm 1, Lin et al.)", "shift & scale sqrt(ᾱ): ᾱ_T = 0"],
        col: 2,
        row: 0,
        fill: "#e8f5e9",
      },
      {
        id: "db",
        lines: ["DreamBooth, U-Net only", "instance loss + λ · prior loss", "same prompts, seeds, steps"],
        col: 3,
        row: 0,
        fill: "#fde9d9",
      },
      {
        id: "four",
        lines: ["four fine-tunings", "linear, linear + ZT-SNR,", "sigmoid, sigmoid + ZT-SNR"],
        col: 3,
        row: 1,
        fill: "#fde9d9",
      },
    ],
    arrows: [
      { from: "lin", to: "sig", label: "replace" },
      { from: "sig", to: "zt", label: "rescale" },
      { from: "zt", to: "db", label: "q(x_t | x_0)" },
      { from: "db", to: "four" },
    ],
  });
  return write(out, "fig2-method", png, {
    changes: ["beta schedule: linear → sigmoid", "zero terminal SNR rescale (Lin et al. 2023, Algorithm 1)"],
    configurations: ["linear", "linear + zero terminal SNR", "sigmoid", "sigmoid + zero terminal SNR"],
  });
}

/** Fig. 5: the experiment's data flow, as dvc.yaml runs it. */
export async function fig5Overview(out: string): Promise<string[]> {
  const png = await diagramPng({
    title: "Experiment overview (one dvc.yaml stage per box)",
    cellW: 200,
    boxes: [
      { id: "faces", lines: ["faces", "facesjs + sharp", "captioned dataset"], col: 0, row: 0, fill: "#f5f5f5" },
      { id: "base", lines: ["pretrain (frozen)", "tiny Stable Diffusion"], col: 1, row: 0 },
      {
        id: "data",
        lines: ["data/ (data.dvc)", "5 instance images", '"a photo of sks person"'],
        col: 0,
        row: 1,
        fill: "#f5f5f5",
      },
      { id: "cls", lines: ["class images", '200 × "a photo of person"'], col: 2, row: 0 },
      { id: "db", lines: ["DreamBooth × 4 × seeds", "+ no-prior reference"], col: 2, row: 1, fill: "#fde9d9" },
      { id: "samples", lines: ["samples", "fixed prompts × seeds"], col: 3, row: 1 },
      {
        id: "score",
        lines: ["scores per image", "identity, prompt, sharpness,", "tones, drift, diversity"],
        col: 4,
        row: 1,
        fill: "#e8f5e9",
      },
      { id: "figs", lines: ["paired effects, verdicts", "fig1–fig7, table1"], col: 4, row: 0, fill: "#e8f5e9" },
    ],
    arrows: [
      { from: "faces", to: "base" },
      { from: "base", to: "cls" },
      { from: "cls", to: "db" },
      { from: "data", to: "db" },
      { from: "base", to: "db" },
      { from: "db", to: "samples" },
      { from: "samples", to: "score" },
      { from: "score", to: "figs" },
    ],
  });
  return write(out, "fig5-overview", png, {
    stages: ["faces", "pretrain", "class_images", "dreambooth@*", "samples@*", "score@*", "compare", "figures"],
  });
}

async function folderImages(dir: string, limit: number): Promise<{ images: GridImage[]; files: string[] }> {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /\.(png|jpe?g)$/i.test(f))
    .sort()
    .slice(0, limit);
  const images: GridImage[] = [];
  for (const f of files) {
    const p = path.join(dir, f);
    const size = (await sharp(p).metadata()).width!;
    images.push({ pixels: await readImageRgb(p, size), width: size, height: size, channels: 3 });
  }
  return { images, files };
}

/** Fig. 3 and 4: a row of images from a folder (instance images; class images). */
export async function figFolder(
  name: string,
  title: string,
  dir: string,
  out: string,
  limit: number,
  perRow: number,
): Promise<string[]> {
  const { images, files } = await folderImages(dir, limit);
  if (!images.length) throw new Error(`${dir} holds no images for ${name}`);
  const rows: GridImage[][] = [];
  for (let i = 0; i < images.length; i += perRow) rows.push(images.slice(i, i + perRow));
  const png = await imageGrid(rows, { title, scale: 2 });
  return write(out, name, png, { folder: dir, files });
}

/**
 * Fig. 6 / 7: samples of several configurations (rows) for one prompt and several seeds (fig6), or
 * for several prompts at one seed (fig7), with each configuration's metrics beside them in the JSON.
 */
export async function figSamples(
  name: string,
  title: string,
  runs: { label: string; samples: string }[],
  cells: { prompt: string; seed: number }[],
  out: string,
): Promise<string[]> {
  const rows: GridImage[][] = [];
  for (const r of runs) {
    const row: GridImage[] = [];
    for (const c of cells) {
      const p = path.join(r.samples, c.prompt, `seed-${String(c.seed).padStart(3, "0")}.png`);
      if (!fs.existsSync(p)) throw new Error(`${p} is missing: run the samples stage for ${r.label}`);
      const w = (await sharp(p).metadata()).width!;
      row.push({ pixels: await readImageRgb(p, w), width: w, height: w, channels: 3 });
    }
    rows.push(row);
  }
  const png = await imageGrid(rows, {
    title,
    rowLabels: runs.map((r) => r.label),
    colLabels: cells.map((c) => (cells.every((x) => x.prompt === cells[0].prompt) ? `seed ${c.seed}` : c.prompt)),
    scale: 2,
  });
  return write(out, name, png, { cells, runs });
}

/** Table 1: the experimental environment, read from this machine. */
export async function table1Environment(out: string): Promise<string[]> {
  // a package's version from its package.json, found by walking up from its entry point (packages with
  // an "exports" map, sharp among them, do not let `require("<name>/package.json")` through)
  const pkg = (name: string) => {
    let entry: string;
    try {
      entry = require.resolve(name);
    } catch {
      return "not installed";
    }
    for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const f = path.join(dir, "package.json");
      if (!fs.existsSync(f)) continue;
      const j = JSON.parse(fs.readFileSync(f, "utf8")) as { name?: string; version?: string };
      if (j.name === name && j.version) return j.version;
    }
    return "unknown version";
  };
  const cpus = os.cpus();
  const rows: [string, string][] = [
    ["CPU", `${cpus[0]?.model ?? "unknown"} × ${cpus.length}`],
    [
      "GPU",
      currentBackend()?.name === "webgpu" || currentBackend()?.name === "tfjs-node-gpu"
        ? currentBackend()!.name
        : "none used",
    ],
    ["memory", `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["OS", `${os.type()} ${os.release()} (${os.arch()})`],
    ["Node.js", process.version],
    ["TensorFlow.js", pkg("@tensorflow/tfjs-core")],
    ["backend", currentBackend() ? `${currentBackend()!.name} (${currentBackend()!.reason})` : tf.getBackend()],
    ["tfjs-backend-wasm", pkg("@tensorflow/tfjs-backend-wasm")],
    ["sharp", pkg("sharp")],
  ];
  const W = 760;
  const H = 40 + rows.length * 26;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif"><rect width="${W}" height="${H}" fill="white"/>` +
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Table 1: experimental environment</text>` +
    rows
      .map(
        ([k, v], i) =>
          `<text x="20" y="${58 + i * 26}" font-size="13" font-weight="bold">${k}</text><text x="190" y="${58 + i * 26}" font-size="13">${v.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>`,
      )
      .join("") +
    `</svg>`;
  return write(out, "table1-environment", await svgToPng(svg), Object.fromEntries(rows));
}
