/**
 * The oneDNN kernels (lib/kernels/native) against the cpu backend on the shapes the models use, the
 * tiny U-Net's training gradients against the wasm kernels', seeded determinism, the fallback to the
 * wasm kernels, and the addon's own checks. Without the addon these tests are reported as skipped,
 * with the reason; with DREAMBOOTH_REQUIRE_NATIVE=1 (set by CI) they run and fail instead.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as os from "os";
import * as path from "path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend";
import { shippedConfigs } from "../models/configs";
import { initParams, disposeParams } from "../models/init";
import { unetForward, unetParamSpecs } from "../models/unet";
import type { Params } from "../models/params";
import { WorkerPool } from "../parallel/pool";
import {
  oneDnnAddon,
  oneDnnStatus,
  setOneDnnEnabled,
  setOneDnnThreads,
  defaultOneDnnThreads,
  type OneDnnAddon,
} from "./native";
import { gradsOfWeighted, relErr, runOn } from "./test-util";
import { groupNorm } from "../models/layers";

const addon = oneDnnAddon();
const required = process.env.DREAMBOOTH_REQUIRE_NATIVE === "1";
/** Skipped, visibly and with the reason, only where the addon is absent and nobody requires it. */
const skip = addon || required ? false : `the oneDNN addon is not loaded here (${oneDnnStatus().why})`;
const need = (): OneDnnAddon => {
  assert.ok(addon, `the oneDNN addon is required (DREAMBOOTH_REQUIRE_NATIVE=1) but ${oneDnnStatus().why}`);
  return addon;
};

const KINDS = [
  "convForward",
  "convBackwardData",
  "convBackwardFilter",
  "matMul",
  "groupNorm",
  "groupNormGrad",
  "colSum",
  "unary",
] as const;
type Kind = (typeof KINDS)[number];

/** Runs f with the addon's kernel calls counted, by kind. */
async function counted<T>(f: () => Promise<T>): Promise<{ result: T; calls: Record<Kind, number> }> {
  const a = need() as unknown as Record<Kind, (...args: unknown[]) => void>;
  const calls = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const saved = KINDS.map((k) => a[k]);
  KINDS.forEach((k, i) => (a[k] = (...args: unknown[]) => (calls[k]++, saved[i](...args))));
  try {
    return { result: await f(), calls };
  } finally {
    KINDS.forEach((k, i) => (a[k] = saved[i]));
  }
}

/** The same computation on wasm with the oneDNN kernels (counted) and on cpu. */
async function oneDnnVsCpu(inputs: Parameters<typeof runOn>[1], f: Parameters<typeof runOn>[2]) {
  setOneDnnEnabled(true);
  const { result: ours, calls } = await counted(() => runOn("wasm", inputs, f));
  const ref = await runOn("cpu", inputs, f);
  return { err: Math.max(...ours.map((x, i) => relErr(x, ref[i]))), calls };
}

type Pads = [number, number, number, number];
interface ConvCase {
  what: string;
  x: number[];
  w: number[];
  stride: number;
  /** explicit [top, bottom, left, right] as the models pad, or tfjs's "same" */
  pad: Pads | "same";
}
const explicit = (p: Pads): tf.backend_util.ExplicitPadding => [
  [0, 0],
  [p[0], p[1]],
  [p[2], p[3]],
  [0, 0],
];
/** The tiny models' convolutions (lib/models/configs/tiny), batch cut to 1 or 2 so the cpu reference stays quick. */
const CONV_CASES: ConvCase[] = [
  { what: "U-Net conv_in", x: [2, 16, 16, 4], w: [3, 3, 4, 64], stride: 1, pad: "same" },
  { what: "U-Net resnet 64", x: [1, 16, 16, 64], w: [3, 3, 64, 64], stride: 1, pad: "same" },
  { what: "U-Net up resnet 160→64", x: [1, 16, 16, 160], w: [3, 3, 160, 64], stride: 1, pad: "same" },
  { what: "U-Net downsample 64", x: [2, 16, 16, 64], w: [3, 3, 64, 64], stride: 2, pad: [1, 1, 1, 1] },
  { what: "U-Net resnet 224→96", x: [2, 8, 8, 224], w: [3, 3, 224, 96], stride: 1, pad: "same" },
  { what: "U-Net downsample 96", x: [2, 8, 8, 96], w: [3, 3, 96, 96], stride: 2, pad: [1, 1, 1, 1] },
  { what: "U-Net mid resnet 128", x: [2, 4, 4, 128], w: [3, 3, 128, 128], stride: 1, pad: "same" },
  { what: "U-Net up resnet 256→128", x: [2, 4, 4, 256], w: [3, 3, 256, 128], stride: 1, pad: "same" },
  { what: "U-Net conv_out", x: [2, 16, 16, 64], w: [3, 3, 64, 4], stride: 1, pad: "same" },
  { what: "VAE conv_in", x: [1, 64, 64, 3], w: [3, 3, 3, 16], stride: 1, pad: "same" },
  { what: "VAE downsample (0,1,0,1)", x: [1, 64, 64, 16], w: [3, 3, 16, 16], stride: 2, pad: [0, 1, 0, 1] },
  { what: "VAE resnet 16→32", x: [1, 32, 32, 16], w: [3, 3, 16, 32], stride: 1, pad: "same" },
  { what: "VAE encoder out", x: [1, 16, 16, 64], w: [3, 3, 64, 8], stride: 1, pad: "same" },
  { what: "VAE decoder conv_out", x: [1, 64, 64, 16], w: [3, 3, 16, 3], stride: 1, pad: "same" },
];

/** y = fused conv (bias) as the models run it on oneDNN (lib/models/layers, conv2d and conv2dStride2). */
const fusedConv = (c: ConvCase) => (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  c.pad === "same"
    ? tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.stride, pad: "same", bias: b })
    : tf.fused.conv2d({
        x: tf.pad(x as tf.Tensor4D, explicit(c.pad)),
        filter: w as tf.Tensor4D,
        strides: c.stride,
        pad: "valid",
        bias: b,
      });

test("the oneDNN addon is built where DREAMBOOTH_REQUIRE_NATIVE=1 asks for it (CI)", { skip }, () => {
  const a = need();
  const info = a.info();
  assert.match(info.version, /^\d+\.\d+\.\d+$/);
  assert.ok(a.getThreads() >= 1);
});

for (const c of CONV_CASES) {
  test(
    `oneDNN convolution matches cpu: ${c.what} x[${c.x}] w[${c.w}] s${c.stride} — forward with bias, both gradients`,
    { skip },
    async () => {
      const inputs = [
        { shape: c.x, seed: 1 },
        { shape: c.w, seed: 2 },
        { shape: [c.w[3]], seed: 3 },
      ];
      const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
        const plain =
          c.pad === "same"
            ? tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, "same")
            : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, explicit(c.pad));
        return [fusedConv(c)(x, w, b), plain, ...gradsOfWeighted(fusedConv(c), [0, 1, 2])(x, w, b)];
      };
      const { err, calls } = await oneDnnVsCpu(inputs, f);
      assert.ok(err <= 2e-5, `relative error ${err.toExponential(2)}`);
      // forward twice (fused and plain, and once more under the gradient), both gradients: all on oneDNN
      assert.ok(
        calls.convForward >= 2 && calls.convBackwardData >= 1 && calls.convBackwardFilter >= 1,
        `oneDNN calls ${JSON.stringify(calls)}`,
      );
    },
  );
}

interface MatCase {
  what: string;
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
  bias?: number;
}
/** The models' products: linear layers (2-D, bias), attention (batched), gradients' transposes, shared operands. */
const MAT_CASES: MatCase[] = [
  { what: "linear 1024×96 · 96×96 + bias", a: [1024, 96], b: [96, 96], ta: false, tb: false, bias: 96 },
  { what: "linear grad a·bᵀ", a: [1024, 96], b: [768, 96], ta: false, tb: true },
  { what: "linear grad aᵀ·b", a: [1024, 96], b: [1024, 384], ta: true, tb: false },
  { what: "aᵀ·bᵀ", a: [64, 40], b: [24, 64], ta: true, tb: true },
  { what: "attention q·kᵀ, 16 items", a: [16, 256, 24], b: [16, 77, 24], ta: false, tb: true },
  { what: "attention p·v, 16 items", a: [16, 256, 77], b: [16, 77, 24], ta: false, tb: false },
  { what: "attention grad pᵀ·dy, 4×4 items", a: [4, 4, 256, 77], b: [4, 4, 256, 24], ta: true, tb: false },
  { what: "shared right operand [8,32,16]·[16,24]", a: [8, 32, 16], b: [16, 24], ta: false, tb: false },
  { what: "shared left operand [1,32,16]·[8,24,16]ᵀ", a: [1, 32, 16], b: [8, 24, 16], ta: false, tb: true },
  { what: "time embedding 16×64 · 64×256 + bias", a: [16, 64], b: [64, 256], ta: false, tb: false, bias: 256 },
];

for (const c of MAT_CASES) {
  test(`oneDNN matrix product matches cpu: ${c.what}, and its gradients`, { skip }, async () => {
    const inputs = [
      { shape: c.a, seed: 4 },
      { shape: c.b, seed: 5 },
      { shape: [c.bias ?? 1], seed: 6 },
    ];
    const prod = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) =>
      c.bias ? tf.fused.matMul({ a, b, transposeA: c.ta, transposeB: c.tb, bias }) : tf.matMul(a, b, c.ta, c.tb);
    const f = (a: tf.Tensor, b: tf.Tensor, bias: tf.Tensor) => [
      prod(a, b, bias),
      ...gradsOfWeighted(prod, c.bias ? [0, 1, 2] : [0, 1])(a, b, bias),
    ];
    const { err, calls } = await oneDnnVsCpu(inputs, f);
    assert.ok(err <= 2e-5, `relative error ${err.toExponential(2)}`);
    assert.ok(calls.matMul >= 3, `oneDNN calls ${JSON.stringify(calls)}`);
  });
}

/** The models' GroupNorms (32 groups in the U-Net, 1 in the VAE), with and without SiLU. */
const NORM_CASES: { x: number[]; groups: number; silu: boolean }[] = [
  { x: [2, 16, 16, 64], groups: 32, silu: true },
  { x: [2, 8, 8, 96], groups: 32, silu: false },
  { x: [2, 4, 4, 256], groups: 32, silu: true },
  { x: [1, 64, 64, 16], groups: 1, silu: true },
  { x: [3, 4, 4, 6], groups: 3, silu: true },
];

for (const c of NORM_CASES) {
  test(
    `the addon's GroupNorm${c.silu ? "+SiLU" : ""} matches cpu: x[${c.x}], ${c.groups} groups — output and gradients`,
    { skip },
    async () => {
      const C = c.x[3];
      const inputs = [
        { shape: c.x, seed: 11 },
        { shape: [C], seed: 12 },
        { shape: [C], seed: 13 },
      ];
      const norm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        groupNorm(x as tf.Tensor4D, g, b, c.groups, 1e-5, { silu: c.silu });
      const { err, calls } = await oneDnnVsCpu(inputs, (x, g, b) => [
        norm(x, g, b),
        ...gradsOfWeighted(norm, [0, 1, 2])(x, g, b),
      ]);
      assert.ok(err <= 2e-5, `relative error ${err.toExponential(2)}`);
      assert.ok(calls.groupNorm >= 1 && calls.groupNormGrad >= 1, `native calls ${JSON.stringify(calls)}`);
    },
  );
}

test("sums over leading axes (bias gradients) on the addon give the wasm kernels' bytes", { skip }, async () => {
  const cases: [number[], number[], boolean][] = [
    [[2, 16, 16, 64], [0, 1, 2], false],
    [[16, 64, 96], [0, 1], true],
    [[5, 7], [0], false],
  ];
  for (const [shape, axes, keep] of cases) {
    const f = (x: tf.Tensor) => tf.sum(x, axes, keep);
    const { result: on, calls } = await counted(() => runOn("wasm", [{ shape, seed: 14 }], f));
    setOneDnnEnabled(false);
    const off = await runOn("wasm", [{ shape, seed: 14 }], f).finally(() => setOneDnnEnabled(true));
    assert.equal(calls.colSum, 1, `[${shape}] over [${axes}]`);
    assert.ok(Buffer.from(on[0].buffer).equals(Buffer.from(off[0].buffer)), `[${shape}] over [${axes}]: bytes differ`);
  }
});

test(
  "the addon's e^x and erf(x) match cpu: within 2 float32 ulps (e^x) and 3e-7 (erf), infinities and zeros kept",
  { skip },
  async () => {
    // the GELU's range and far beyond it: overflow to ∞, underflow to 0 and subnormals, ±∞
    const values = [
      ...Array.from({ length: 4001 }, (_, i) => (i - 2000) / 100),
      88.7,
      89,
      100,
      -87,
      -95,
      -103,
      -200,
      Infinity,
      -Infinity,
      0,
      -0,
    ];
    const x = [{ shape: [values.length], seed: 0, values }];
    const { result: on, calls } = await counted(() => runOn("wasm", x, (t) => [tf.exp(t), tf.erf(t)]));
    const [exp, erf] = await runOn("cpu", x, (t) => [tf.exp(t), tf.erf(t)]);
    assert.equal(calls.unary, 2);
    values.forEach((v, i) => {
      const [a, b] = [on[0][i], exp[i]];
      const ok = a === b || Math.abs(a - b) <= 2 * 2 ** -23 * Math.abs(b) || (b < 1.2e-38 && Math.abs(a - b) <= 1e-44);
      assert.ok(ok, `e^${v}: ${a} against cpu's ${b}`);
      assert.ok(Math.abs(on[1][i] - erf[i]) <= 3e-7, `erf(${v}): ${on[1][i]} against cpu's ${erf[i]}`);
    });
  },
);

test(
  "out of oneDNN's scope (an activation, a two-sided batch broadcast), the wasm kernels run, and agree with cpu",
  { skip },
  async () => {
    const relu = (x: tf.Tensor, w: tf.Tensor) =>
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: "same", activation: "relu" });
    const r = await oneDnnVsCpu(
      [
        { shape: [1, 8, 8, 4], seed: 7 },
        { shape: [3, 3, 4, 8], seed: 8 },
      ],
      (x, w) => relu(x, w),
    );
    assert.ok(r.err <= 1e-5, `fused relu conv: relative error ${r.err}`);
    assert.equal(r.calls.convForward, 0);
    const m = await oneDnnVsCpu(
      [
        { shape: [2, 1, 8, 5], seed: 9 },
        { shape: [1, 3, 5, 6], seed: 10 },
      ],
      (a, b) => tf.matMul(a, b),
    );
    assert.ok(m.err <= 1e-5, `broadcast product: relative error ${m.err}`);
    assert.equal(m.calls.matMul, 0);
  },
);

test(
  "switched off, the same ops run on the wasm kernels (no oneDNN call) and give the wasm kernels' bytes",
  { skip },
  async () => {
    const c = CONV_CASES[3];
    const inputs = [
      { shape: c.x, seed: 1 },
      { shape: c.w, seed: 2 },
      { shape: [c.w[3]], seed: 3 },
    ];
    const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => [
      tf.matMul(tf.reshape(x, [-1, c.x[3]]), tf.reshape(w, [-1, c.w[2]]), false, true),
      ...gradsOfWeighted(fusedConv(c), [0, 1, 2])(x, w, b),
    ];
    setOneDnnEnabled(false);
    try {
      const off = await counted(() => runOn("wasm", inputs, f));
      assert.deepEqual(
        Object.values(off.calls),
        KINDS.map(() => 0),
      );
      const again = await runOn("wasm", inputs, f);
      off.result.forEach((x, i) => assert.deepEqual(Buffer.from(x.buffer), Buffer.from(again[i].buffer)));
    } finally {
      setOneDnnEnabled(true);
    }
    const on = await counted(() => runOn("wasm", inputs, f));
    assert.ok(on.calls.matMul >= 1 && on.calls.convBackwardFilter >= 1, `oneDNN calls ${JSON.stringify(on.calls)}`);
  },
);

test("oneDNN kernels leave no tensors behind (convolutions, products, their gradients)", { skip }, async () => {
  await runOn("wasm", [], () => tf.zeros([1]));
  setOneDnnEnabled(true);
  const before = tf.memory().numTensors;
  const c = CONV_CASES[1];
  const m = MAT_CASES[0];
  const { calls } = await counted(async () => {
    await runOn(
      "wasm",
      [
        { shape: c.x, seed: 1 },
        { shape: c.w, seed: 2 },
        { shape: [c.w[3]], seed: 3 },
      ],
      (x, w, b) => gradsOfWeighted(fusedConv(c), [0, 1, 2])(x, w, b),
    );
    await runOn(
      "wasm",
      [
        { shape: m.a, seed: 4 },
        { shape: m.b, seed: 5 },
        { shape: [m.bias!], seed: 6 },
      ],
      (a, b, bias) => gradsOfWeighted((x, y, z) => tf.fused.matMul({ a: x, b: y, bias: z }), [0, 1, 2])(a, b, bias),
    );
  });
  assert.equal(tf.memory().numTensors, before);
  assert.ok(
    calls.convForward && calls.convBackwardData && calls.convBackwardFilter && calls.matMul,
    `oneDNN calls ${JSON.stringify(calls)}`,
  );
});

const unet = shippedConfigs("tiny").unet;
const values = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.9);

/** Loss and every parameter's gradient of a tiny U-Net ε-prediction step on wasm, oneDNN on or off. */
async function unetGrads(
  oneDnn: boolean,
  threads = defaultOneDnnThreads(),
): Promise<{ loss: number; grads: Float32Array[] }> {
  await initBackend({ prefer: "wasm", log: () => {} });
  setOneDnnEnabled(oneDnn);
  setOneDnnThreads(threads);
  try {
    const specs = unetParamSpecs(unet);
    const p: Params = initParams(specs, 11);
    const vars = specs.map((s) => p.get(s.name)!);
    const S = unet.sample_size;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const x = tf.tensor4d(values(4 * S * S * unet.in_channels, 1), [4, S, S, unet.in_channels]);
          const e = tf.tensor3d(values(4 * 77 * unet.cross_attention_dim, 2), [4, 77, unet.cross_attention_dim]);
          return tf.mean(
            tf.square(tf.sub(unetForward(p, unet, x, tf.tensor1d([3, 870, 250, 999], "int32"), e), x)),
          ) as tf.Scalar;
        }),
      vars,
    );
    const out = {
      loss: (await value.data())[0],
      grads: vars.map((v) => Float32Array.from(grads[v.name].dataSync() as Float32Array)),
    };
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before, "no tensors left behind by a forward + backward pass");
    disposeParams(p);
    return out;
  } finally {
    setOneDnnEnabled(true);
    setOneDnnThreads(defaultOneDnnThreads());
  }
}

test(
  "tiny U-Net training step: loss and every gradient on oneDNN equal the wasm kernels' within 1e-4 relative L2",
  { skip },
  async () => {
    const { result: on, calls } = await counted(() => unetGrads(true));
    const off = await unetGrads(false);
    assert.ok(
      calls.convForward > 0 && calls.convBackwardData > 0 && calls.convBackwardFilter > 0 && calls.matMul > 0,
      `oneDNN calls ${JSON.stringify(calls)}`,
    );
    assert.ok(Math.abs(on.loss - off.loss) <= 1e-5 * Math.abs(off.loss), `loss ${on.loss} vs ${off.loss}`);
    // per parameter ‖a − b‖ ≤ 1e-4 · max(‖b‖, 1e-3 · ‖all of b‖), as lib/models/wasm-vs-cpu.test.ts
    // compares wasm with cpu
    let total = 0;
    for (const g of off.grads) for (const x of g) total += x * x;
    const floor = 1e-3 * Math.sqrt(total);
    const specs = unetParamSpecs(unet);
    let worst = 0;
    let worstName = "";
    specs.forEach((s, i) => {
      let num = 0;
      let den = 0;
      for (let k = 0; k < on.grads[i].length; k++) {
        num += (on.grads[i][k] - off.grads[i][k]) ** 2;
        den += off.grads[i][k] ** 2;
      }
      const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), floor);
      if (rel > worst) [worst, worstName] = [rel, s.name];
    });
    assert.ok(
      worst <= 1e-4,
      `gradient of ${worstName} differs by ${worst.toExponential(2)} (relative L2) between oneDNN and wasm`,
    );
  },
);

test(
  "seeded determinism on oneDNN: the same step gives the same bytes, with 1 thread and with 2",
  { skip },
  async () => {
    for (const threads of [1, 2]) {
      const { result: a, calls } = await counted(() => unetGrads(true, threads));
      assert.ok(calls.convForward > 0 && calls.matMul > 0, `oneDNN calls ${JSON.stringify(calls)}`);
      const b = await unetGrads(true, threads);
      assert.equal(a.loss, b.loss, `${threads} thread(s): loss`);
      a.grads.forEach((g, i) =>
        assert.ok(
          Buffer.from(g.buffer).equals(Buffer.from(b.grads[i].buffer)),
          `${threads} thread(s): gradient ${i} differs between two runs`,
        ),
      );
    }
  },
);

test(
  "the addon checks its arguments: tensors outside the heap and malformed parameters are errors, not crashes",
  { skip },
  () => {
    const a = need();
    const heap = new ArrayBuffer(1024);
    // a 16×16 product needs 1 KiB per operand: c would end past the heap
    const params = (c: number) => new Float64Array([1, 1, 16, 16, 16, 0, 0, 0, 0, c, -1]);
    assert.throws(
      () => a.matMul(heap, params(512)),
      /tensor c at byte 512 with 256 floats is outside the heap of 1024 bytes/,
    );
    assert.throws(() => a.matMul(heap, new Float64Array(3)), /parameters must be a Float64Array of 11 numbers/);
    assert.throws(
      () => a.matMul(new Float32Array(4) as unknown as ArrayBuffer, params(0)),
      /first argument must be the wasm heap's ArrayBuffer/,
    );
    assert.throws(() => a.setThreads(0), /n must be an integer ≥ 1/);
    a.matMul(heap, params(0)); // in bounds: runs
  },
);

test("a worker pool shares the cores out: workers × oneDNN threads never exceeds them", { skip }, async () => {
  const module = path.join(__dirname, "fixtures", "native-threads-task.ts");
  const cores = os.availableParallelism();
  for (const size of [1, 2]) {
    const pool = await WorkerPool.start({ module, size });
    try {
      const want = Math.max(1, Math.floor(cores / size));
      assert.ok(size > cores || size * want <= cores);
      const got = await Promise.all(Array.from({ length: size }, (_, i) => pool.call<{ threads: number }>(i, null)));
      for (const g of got) assert.equal(g.threads, want, `pool of ${size}: ${JSON.stringify(got)}`);
    } finally {
      await pool.close();
    }
  }
  const pool = await WorkerPool.start({ module, size: 1, nativeThreads: 3 });
  try {
    assert.equal((await pool.call<{ threads: number }>(0, null)).threads, 3);
  } finally {
    await pool.close();
  }
  await assert.rejects(
    () => WorkerPool.start({ module, size: 1, nativeThreads: 0 }),
    /nativeThreads must be a positive integer, got 0/,
  );
});
