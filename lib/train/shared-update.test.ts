import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { WorkerPool } from "../parallel/pool";
import type { ParamSpec, Params } from "../models/params";
import { poolSource, trainLoop } from "./trainer";
import { NonFiniteError } from "./optim";
import { initialWeights, MLP_PARAMS, MlpTaskConfig } from "./fixtures/mlp-task";

const MODULE = path.join(__dirname, "fixtures", "mlp-task.ts");
const CFG: MlpTaskConfig = { seed: 5, samples: 48, inputs: 6, hidden: 40, nanAtStep: -1 };
const specs: ParamSpec[] = MLP_PARAMS(CFG).map((p) => ({ name: p.name, shape: p.shape, layout: "same" }));

function mainParams(): Params {
  const w = initialWeights(CFG);
  return new Map(specs.map((s, i) => [s.name, tf.tidy(() => tf.variable(tf.tensor(w[i], s.shape), true))]));
}

async function run(dir: string, opts: { shared: boolean; stopAfter?: number; cfg?: MlpTaskConfig }) {
  const pool = await WorkerPool.start({ module: MODULE, config: opts.cfg ?? CFG, size: 2 });
  const p = mainParams();
  try {
    const r = await trainLoop({
      label: "t",
      outDir: dir,
      totalSteps: 10,
      batchSize: 8,
      datasetSize: CFG.samples,
      seed: 2,
      lr: { lr: 0.02, warmupSteps: 2, decay: "cosine" },
      clipNorm: 0.5,
      emaDecay: 0.8,
      checkpointEvery: 3,
      components: [{ name: "mlp", params: p, specs }],
      source: poolSource(pool, { sharedUpdate: opts.shared }),
      config: {},
      quiet: true,
      stopAfter: opts.stopAfter,
    });
    const bytes = (m: Map<string, tf.Tensor>) =>
      [...m]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, t]) => [k, Buffer.from(t.dataSync().buffer).toString("hex")]);
    const out = {
      params: bytes(p),
      ema: r.ema ? bytes(r.ema.shadow) : [],
      log: fs
        .readFileSync(path.join(dir, "log.csv"), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(",").slice(0, 4).join(",")),
    };
    r.ema?.dispose();
    return out;
  } finally {
    tf.dispose([...p.values()]);
    await pool.close();
  }
}

const tmp = (s: string) => fs.mkdtempSync(path.join(os.tmpdir(), `shared-${s}-`));

test("the workers' shared update gives the bytes of the main-thread optimizer (clip active, AdamW, EMA), and resumes exactly", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const before = tf.memory().numTensors;
  const main = await run(tmp("main"), { shared: false });
  const shared = await run(tmp("shared"), { shared: true });
  assert.equal(tf.memory().numTensors, before, "a run leaked tensors on the main thread");
  // the clip threshold was reached on some steps, so the scaled path is compared too
  const norms = main.log.slice(1).map((l) => Number(l.split(",")[3]));
  assert.ok(
    norms.some((n) => n > 0.5),
    `no step clipped (norms ${norms})`,
  );
  assert.deepEqual(shared.params, main.params);
  assert.deepEqual(shared.ema, main.ema);
  assert.deepEqual(shared.log, main.log);
  // interrupted after step 7 (checkpoint at 6), resumed in a new pool: the same bytes
  const dir = tmp("resume");
  await run(dir, { shared: true, stopAfter: 7 });
  const resumed = await run(dir, { shared: true });
  assert.deepEqual(resumed.params, shared.params);
  assert.deepEqual(resumed.ema, shared.ema);
  assert.deepEqual(resumed.log, shared.log);
});

test("shared update: a NaN loss stops with NonFiniteError and the weights stay those of the last good step", async () => {
  await initBackend({ prefer: "wasm", log: () => {} });
  const dir = tmp("nan");
  const good = await run(tmp("good"), { shared: true, stopAfter: 4 });
  const pool = await WorkerPool.start({ module: MODULE, config: { ...CFG, nanAtStep: 4 }, size: 2 });
  const p = mainParams();
  try {
    await assert.rejects(
      trainLoop({
        label: "t",
        outDir: dir,
        totalSteps: 10,
        batchSize: 8,
        datasetSize: CFG.samples,
        seed: 2,
        lr: { lr: 0.02, warmupSteps: 2, decay: "cosine" },
        clipNorm: 0.5,
        emaDecay: 0.8,
        checkpointEvery: 3,
        components: [{ name: "mlp", params: p, specs }],
        source: poolSource(pool),
        config: {},
        quiet: true,
      }),
      (e: Error) => e instanceof NonFiniteError && /loss is NaN at step 5/.test(e.message),
    );
    const now = [...p]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, t]) => [k, Buffer.from(t.dataSync().buffer).toString("hex")]);
    assert.deepEqual(now, good.params);
  } finally {
    tf.dispose([...p.values()]);
    await pool.close();
  }
});
