/**
 * The committed evaluator (models/evaluator) on faces it never saw: per-attribute accuracy, identity
 * fidelity of the subject against random faces, metric determinism and leaks, and bad input.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { renderFaceRgb } from "../data/faces";
import { toSigned } from "../data/images";
import { subjectAttributes, subjectFace, writeInstanceImages } from "../data/subject";
import { disposeParams } from "../models/init";
import { batchOf, renderLabelledFaces } from "./faces";
import { computeMetrics, Evaluator, ImageSet, readImageSet, readPrompts, subjectReference } from "./metrics";
import { attributeAccuracy } from "./train";
import { DEFAULT_EVALUATOR_DIR, defaultEvaluatorDir, loadEvaluator } from "./weights";
import { command as evaluateCommand } from "../../cli/commands/evaluate";

const root = path.resolve(__dirname, "../..");
let ev: Evaluator;
let tmp: string;

before(async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  ev = loadEvaluator(path.join(root, DEFAULT_EVALUATOR_DIR));
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "eval-test-"));
});

after(() => {
  if (ev) disposeParams(ev.params);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function instanceSet(): Promise<ImageSet> {
  const n = 5;
  const data = new Float32Array(n * 64 * 64 * 3);
  for (let i = 0; i < n; i++) toSigned(await renderFaceRgb(await subjectFace(i, 64), 64), data, i * 64 * 64 * 3);
  return { data, shape: [n, 64, 64, 3] };
}

test("held-out accuracy per attribute on 200 fresh test-split faces", async () => {
  // dataset seed 1: faces neither trained on (seed 0, train split) nor scored by train-evaluator (seed 0, test split)
  const faces = await renderLabelledFaces({ split: "test", count: 200, seed: 1 });
  const acc = await attributeAccuracy(ev.params, faces, ev.config.model);
  const byName = Object.fromEntries(acc.map((a) => [a.attribute, a.accuracy]));
  console.log(
    "held-out accuracy: " +
      acc.map((a) => `${a.attribute} ${(100 * a.accuracy).toFixed(1)} % (${a.scored})`).join(", "),
  );
  // MIN_ACCURACY is filled in from the measured values below
  for (const [k, min] of Object.entries(MIN_ACCURACY)) assert.ok(byName[k] >= min, `${k}: ${byName[k]} < ${min}`);
});

test("identity fidelity: the instance images score high against themselves, random faces low", async () => {
  const inst = await instanceSet();
  const subject = await subjectReference(ev, inst, subjectAttributes());
  const self = await computeMetrics(ev, inst, { subject });
  const random = await renderLabelledFaces({ split: "test", count: 50, seed: 2 });
  const others = await computeMetrics(
    ev,
    batchOf(
      random,
      Array.from({ length: 50 }, (_, i) => i),
    ),
    { subject },
  );
  const s = self.metrics;
  const o = others.metrics;
  console.log(
    `self: agreement ${s.identityAgreement!.mean.toFixed(3)}, similarity ${s.identitySimilarity!.mean.toFixed(3)}, diversity ${s.diversity!.mean.toFixed(3)}; ` +
      `random: agreement ${o.identityAgreement!.mean.toFixed(3)}, similarity ${o.identitySimilarity!.mean.toFixed(3)}, diversity ${o.diversity!.mean.toFixed(3)}`,
  );
  IDENTITY_CHECKS(s, o);
});

test("metrics are deterministic and leak no tensors", async () => {
  const inst = await instanceSet();
  const subject = await subjectReference(ev, inst, subjectAttributes());
  const before = tf.memory().numTensors;
  const a = await computeMetrics(ev, inst, {
    subject,
    prompts: "a photo of sks person with curly red hair, beard, glasses",
    seed: 3,
  });
  assert.equal(tf.memory().numTensors, before, "computeMetrics leaked");
  const b = await computeMetrics(ev, inst, {
    subject,
    prompts: "a photo of sks person with curly red hair, beard, glasses",
    seed: 3,
  });
  assert.deepEqual(a, b);
  assert.equal(a.metrics.promptFidelity!.n, 5);
  assert.deepEqual(a.perImage[0].promptAttributes, {
    hairStyle: "curly",
    hairColor: "red",
    facialHair: "beard",
    glasses: "glasses",
  });
  // luminance: the 5 instance images span very dark to very bright backgrounds (measured 0.360; the
  // face covers much of each image, so per-image means spread less than the backgrounds' 0.06–0.94)
  assert.ok(a.metrics.luminanceRange.mean > 0.3, `luminance range ${a.metrics.luminanceRange.mean}`);
});

test("evaluate command: instance folder against itself, metrics.json written", async () => {
  const dir = path.join(tmp, "instance");
  await writeInstanceImages(dir, 64);
  const out = path.join(tmp, "metrics.json");
  const log = console.log;
  const lines: string[] = [];
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(
      await evaluateCommand.run([
        dir,
        "--subject",
        dir,
        "--out",
        out,
        "--evaluator",
        path.join(root, DEFAULT_EVALUATOR_DIR),
        "--backend",
        "wasm",
      ]),
      0,
    );
  } finally {
    console.log = log;
  }
  const doc = JSON.parse(fs.readFileSync(out, "utf8"));
  assert.equal(doc.n, 5);
  assert.ok(doc.metrics.identitySimilarity.mean > 0.5);
  assert.ok(lines.some((l) => l.includes("identitySimilarity")));
});

test("bad input: empty folder, non-image files, mismatched prompts", async () => {
  const empty = path.join(tmp, "empty");
  fs.mkdirSync(empty);
  await assert.rejects(
    readImageSet(empty),
    /image folder .*empty has no PNG, JPEG or WebP images; fix: put the images in it/,
  );
  const notes = path.join(tmp, "notes");
  fs.mkdirSync(notes);
  fs.writeFileSync(path.join(notes, "readme.txt"), "hello");
  await assert.rejects(readImageSet(notes), /has no PNG, JPEG or WebP images \(only: readme.txt\)/);
  const broken = path.join(tmp, "broken");
  fs.mkdirSync(broken);
  fs.writeFileSync(path.join(broken, "a.png"), "not a png at all");
  await assert.rejects(
    readImageSet(broken),
    /a\.png is not a readable image .*fix: replace it with a PNG or JPEG image, or remove it/,
  );
  const pj = path.join(tmp, "prompts.json");
  fs.writeFileSync(pj, JSON.stringify({ "a.png": "a photo of person", "z.png": "a photo of person" }));
  assert.throws(
    () => readPrompts(pj, ["a.png", "b.png"]),
    /prompts\.json does not match the images: no prompt for 1 image\(s\): b\.png; prompts for 1 file\(s\) not in the folder: z\.png; fix:/,
  );
  fs.writeFileSync(pj, "{ not json");
  assert.throws(() => readPrompts(pj, ["a.png"]), /prompts\.json is not valid JSON .*fix: write/);
  fs.writeFileSync(pj, JSON.stringify(["a photo"]));
  assert.throws(() => readPrompts(pj, ["a.png"]), /holds an array; fix/);
  assert.equal(
    readPrompts((fs.writeFileSync(pj, JSON.stringify("a photo of sks person")), pj), ["a.png"]),
    "a photo of sks person",
  );
  assert.throws(
    () => loadEvaluator(path.join(tmp, "nowhere")),
    /evaluator config .*config\.json does not exist; fix: pass --evaluator/,
  );
  // the committed folder is found from any working directory
  assert.ok(fs.existsSync(path.join(defaultEvaluatorDir(), "evaluator.safetensors")));
  await assert.rejects(computeMetrics(ev, { data: new Float32Array(0), shape: [0, 64, 64, 3] }), /no images; fix/);
});

/**
 * Floors for the committed evaluator on these 200 faces (dataset seed 1, test split), a few points under
 * the values measured with the committed weights (wasm), the generator without the 4 eyebrows pruned
 * second (lib/data `EYEBROW_IDS`) and hair colour scored only where the hair shows (`hairColorVisible`):
 * gender 98.0, skin tone 100, hair style 96.7 (151 scored), hair colour 99.3 (137 scored), facial hair
 * 100, glasses 100, headwear 100, eyes 98.0, eyebrows 98.0, mouth 95.5, background 100, brightness 100 %.
 * (`dreambooth evaluator-accuracy`: 1000 faces of dataset seed 0, every identity attribute ≥ 96.8 %
 * except gender 97.2; 2000 faces of seed 1, eyebrows 96.4 % [95.4, 97.1] the lowest.) Floors catch a
 * regression of the weights or of the renderer; 200 faces put ±3 points of noise on each value.
 */
const MIN_ACCURACY: Record<string, number> = {
  gender: 0.93,
  skinTone: 0.97,
  hairStyle: 0.92,
  hairColor: 0.95,
  facialHair: 0.96,
  glasses: 0.97,
  headwear: 0.97,
  eyes: 0.93, // chance 1/3
  eyebrows: 0.93, // chance 1/2
  mouth: 0.9, // chance 1/3; not an identity attribute (it changes with expression)
  background: 0.97,
  brightness: 0.97,
};

type M = Awaited<ReturnType<typeof computeMetrics>>["metrics"];
/**
 * Measured (wasm, committed weights): the 5 instance images against themselves: attribute agreement
 * 1.000, embedding similarity 0.956, diversity 0.055; 50 random test faces against the subject:
 * agreement 0.391, similarity 0.023, diversity 1.005.
 */
function IDENTITY_CHECKS(self: M, random: M) {
  assert.ok(self.identityAgreement!.mean >= 0.95, `self agreement ${self.identityAgreement!.mean}`);
  assert.ok(self.identitySimilarity!.mean > 0.85, `self similarity ${self.identitySimilarity!.mean}`);
  assert.ok(random.identityAgreement!.mean < 0.6, `random agreement ${random.identityAgreement!.mean}`);
  assert.ok(random.identitySimilarity!.mean < 0.2, `random similarity ${random.identitySimilarity!.mean}`);
  // the intervals do not overlap
  assert.ok(self.identitySimilarity!.ci95[0] > random.identitySimilarity!.ci95[1]);
  assert.ok(
    self.diversity!.mean < 0.2 && random.diversity!.mean > 0.8,
    `diversity self ${self.diversity!.mean}, random ${random.diversity!.mean}`,
  );
  assert.equal(random.identitySimilarity!.n, 50);
}
