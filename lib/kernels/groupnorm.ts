/**
 * GroupNorm (Wu & He 2018), optionally followed by SiLU, as one kernel with a hand-written
 * gradient, for the host backends (wasm, cpu).
 *
 * Written with tfjs ops, a GroupNorm + SiLU is ~12 kernels forward and ~30 backward (broadcast
 * reductions, reshapes), each a full pass over a buffer plus a kernel call: on wasm, 21 ms for
 * fwd+bwd of a [16, 16, 16, 64] tensor, about a tenth of a tiny U-Net training step over its ~30
 * norms. These kernels make one pass for the statistics and one for the output (forward), and two
 * for the gradient (backward), accumulating in float64.
 *
 * Forward, per sample b and group g over its N = H·W·C/G values:
 *   μ = mean(x), σ² = mean((x − μ)²) (biased, like torch), r = 1/sqrt(σ² + ε),
 *   x̂ = (x − μ)·r, z = γ_c x̂ + β_c, y = z (or z·sigmoid(z) with SiLU).
 * Backward: dz = dy (or dy·s(1 + z(1 − s)), s = sigmoid(z)); dγ_c = Σ dz·x̂; dβ_c = Σ dz;
 *   with d = dz·γ_c:  dx = r·(d − mean_group(d) − x̂·mean_group(d·x̂)).
 */
import * as tf from "@tensorflow/tfjs-core";
import { groupNormModule, simdSupported } from "./simd/modules";
import type { WasmHeap } from "./heap";

/** 2^k for k in [−300, 300] (fastExp's scale). */
const POW2 = Float64Array.from({ length: 601 }, (_, i) => 2 ** (i - 300));

/**
 * e^x within 1e-8 relative (measured 7e-9 over [−30, 30]), about twice as fast as Math.exp in these
 * loops: e^x = 2^k · e^r with k = round(x·log₂e), |r| ≤ ln2/2, and e^r by its degree-7 Taylor
 * polynomial (remainder ≤ 0.35⁸/8! ≈ 6e-9). Inputs are clamped to [−103, 88] (float32's range).
 */
export function fastExp(x: number): number {
  const c = x > 88 ? 88 : x < -103 ? -103 : x;
  const k = Math.floor(c * Math.LOG2E + 0.5);
  const r = c - k * Math.LN2;
  return (
    (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r / 5040))))))) * POW2[k + 300]
  );
}

export const GROUP_NORM = "IdbGroupNorm";
export const GROUP_NORM_GRAD = "IdbGroupNormGrad";

export interface GroupNormAttrs {
  groups: number;
  eps: number;
  silu: boolean;
}

type Info = tf.TensorInfo;
interface HostIO {
  /** new float32 outputs (allocate them all before `read`: on wasm an allocation can grow the heap and detach earlier views) */
  make(shape: number[]): Info;
  /** the values of a tensor (an input or a made output) */
  read(t: Info): Float32Array;
}

interface CpuLike {
  data: { get(id: unknown): { values: ArrayLike<number> } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): Info;
}

function hostIO(backendName: "wasm" | "cpu", backend: unknown): HostIO {
  if (backendName === "wasm") {
    const be = backend as WasmHeap;
    return {
      make: (shape) => be.makeOutput(shape, "float32"),
      read: (t) => be.typedArrayFromHeap(t) as Float32Array,
    };
  }
  const be = backend as CpuLike;
  return {
    make: (shape) => be.makeTensorInfo(shape, "float32", new Float32Array(shape.reduce((a, b) => a * b, 1))),
    read: (t) => be.data.get(t.dataId).values as Float32Array,
  };
}

function checkInputs(kernel: string, x: Info, gamma: Info, beta: Info, groups: number): [number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${kernel}: x must be [batch, height, width, channels], got [${x.shape}]`);
  const C = x.shape[3];
  if (C % groups !== 0) throw new Error(`${kernel}: ${C} channels are not divisible into ${groups} groups`);
  for (const [n, t] of [
    ["x", x],
    ["gamma", gamma],
    ["beta", beta],
  ] as const) {
    if (t.dtype !== "float32") throw new Error(`${kernel}: ${n} must be float32, got ${t.dtype}`);
  }
  if (gamma.shape.join() !== String(C) || beta.shape.join() !== String(C))
    throw new Error(`${kernel}: gamma and beta must be [${C}], got [${gamma.shape}] and [${beta.shape}]`);
  return [x.shape[0], x.shape[1] * x.shape[2], C];
}

let useSimd = simdSupported;
/**
 * Whether the kernels take the WebAssembly SIMD path (lib/kernels/simd/groupnorm.wat) where the
 * channel count is a multiple of 4; otherwise, or when off, the JavaScript loops below. On by
 * default where the runtime has SIMD; tests and the bench switch it to compare.
 */
export function setSimdGroupNorm(on: boolean): void {
  useSimd = on && simdSupported;
}

/** 16-byte aligned byte offsets of consecutive regions of `sizes` bytes, and the total. */
function layout(sizes: number[]): [number[], number] {
  const offs: number[] = [];
  let at = 0;
  for (const s of sizes) {
    offs.push(at);
    at += Math.ceil(s / 16) * 16;
  }
  return [offs, at];
}

/**
 * For each group g of Cg channels: the means over its N values of two per-channel float64 sums
 * (of x and x², or of d and d·xh) stored at f64[sOff + c] and f64[qOff + c], handed to `each`.
 */
function groupMeans(
  f64: Float64Array,
  sOff: number,
  qOff: number,
  C: number,
  Cg: number,
  N: number,
  each: (g: number, m1: number, m2: number) => void,
): void {
  for (let g = 0; g < C / Cg; g++) {
    let t1 = 0;
    let t2 = 0;
    for (let k = g * Cg; k < (g + 1) * Cg; k++) {
      t1 += f64[sOff + k];
      t2 += f64[qOff + k];
    }
    each(g, t1 / N, t2 / N);
  }
}

/** Per-group values of sample b spread over their channels: f32[at + c] = perGroup[b·G + c's group]. */
function spreadGroups(
  f32: Float32Array,
  at: number,
  perGroup: ArrayLike<number>,
  b: number,
  G: number,
  Cg: number,
): void {
  for (let g = 0, c = at; g < G; g++) for (let k = 0; k < Cg; k++) f32[c++] = perGroup[b * G + g];
}

/** The forward of `forward` below, one sample at a time through the SIMD module; null where its memory cannot hold a sample. */
function forwardSimd(
  io: HostIO,
  inputs: { x: Info; gamma: Info; beta: Info },
  a: GroupNormAttrs,
  B: number,
  HW: number,
  C: number,
): Info[] | null {
  const G = a.groups;
  const Cg = C / G;
  const n = HW * C;
  const mod = groupNormModule();
  // x, y: [HW, C] float32; prm: m, r, g, b [C] float32; sum, sq: [C] float64
  const [[X, Y, P, S, Q], total] = layout([4 * n, 4 * n, 16 * C, 8 * C, 8 * C]);
  if (!mod.reserve(total)) return null;
  const outs = [io.make(inputs.x.shape), io.make([B, G]), io.make([B, G])];
  const [y, mean, rstd] = outs.map((o) => io.read(o));
  const x = io.read(inputs.x);
  const f32 = mod.f32;
  const f64 = mod.f64;
  f32.set(io.read(inputs.gamma), P / 4 + 2 * C);
  f32.set(io.read(inputs.beta), P / 4 + 3 * C);
  for (let b = 0; b < B; b++) {
    f32.set(x.subarray(b * n, (b + 1) * n), X / 4);
    mod.exports.stats(X, HW, C, S, Q);
    groupMeans(f64, S / 8, Q / 8, C, Cg, HW * Cg, (g, mu, m2) => {
      mean[b * G + g] = mu;
      rstd[b * G + g] = 1 / Math.sqrt(Math.max(0, m2 - mu * mu) + a.eps);
    });
    spreadGroups(f32, P / 4, mean, b, G, Cg);
    spreadGroups(f32, P / 4 + C, rstd, b, G, Cg);
    mod.exports.forward(X, Y, HW, C, P, a.silu ? 1 : 0);
    y.set(f32.subarray(Y / 4, Y / 4 + n), b * n);
  }
  return outs;
}

/** The backward of `backward` below, one sample at a time through the SIMD module (SiLU's sigmoid recomputed); null where its memory cannot hold a sample. */
function backwardSimd(
  io: HostIO,
  inputs: { dy: Info; x: Info; gamma: Info; beta: Info; mean: Info; rstd: Info },
  a: GroupNormAttrs,
  B: number,
  HW: number,
  C: number,
): Info[] | null {
  const G = a.groups;
  const Cg = C / G;
  const n = HW * C;
  const mod = groupNormModule();
  // dy, x, d (then dx): [HW, C] float32; prm: m, r, g, b and prm2: m1, m2 [C] float32; acc: dγ, dβ, s1, s2 [C] float64
  const [[DY, X, D, P, P2, A], total] = layout([4 * n, 4 * n, 4 * n, 16 * C, 8 * C, 32 * C]);
  if (!mod.reserve(total)) return null;
  const outs = [io.make(inputs.x.shape), io.make([C]), io.make([C])];
  const [dx, dg, db] = outs.map((o) => io.read(o));
  const dy = io.read(inputs.dy);
  const x = io.read(inputs.x);
  const mean = io.read(inputs.mean);
  const rstd = io.read(inputs.rstd);
  const f32 = mod.f32;
  const f64 = mod.f64;
  f32.set(io.read(inputs.gamma), P / 4 + 2 * C);
  f32.set(io.read(inputs.beta), P / 4 + 3 * C);
  f64.fill(0, A / 8, A / 8 + 2 * C);
  for (let b = 0; b < B; b++) {
    f32.set(dy.subarray(b * n, (b + 1) * n), DY / 4);
    f32.set(x.subarray(b * n, (b + 1) * n), X / 4);
    spreadGroups(f32, P / 4, mean, b, G, Cg);
    spreadGroups(f32, P / 4 + C, rstd, b, G, Cg);
    f64.fill(0, A / 8 + 2 * C, A / 8 + 4 * C);
    mod.exports.backward1(DY, X, D, HW, C, P, A, a.silu ? 1 : 0);
    groupMeans(f64, A / 8 + 2 * C, A / 8 + 3 * C, C, Cg, HW * Cg, (g, m1, m2) => {
      f32.fill(m1, P2 / 4 + g * Cg, P2 / 4 + (g + 1) * Cg);
      f32.fill(m2, P2 / 4 + C + g * Cg, P2 / 4 + C + (g + 1) * Cg);
    });
    mod.exports.backward2(D, X, D, HW, C, P, P2);
    dx.set(f32.subarray(D / 4, D / 4 + n), b * n);
  }
  dg.set(f64.subarray(A / 8, A / 8 + C));
  db.set(f64.subarray(A / 8 + C, A / 8 + 2 * C));
  return outs;
}

function forward(io: HostIO, inputs: { x: Info; gamma: Info; beta: Info }, a: GroupNormAttrs): Info[] {
  const [B, HW, C] = checkInputs(GROUP_NORM, inputs.x, inputs.gamma, inputs.beta, a.groups);
  const simd = useSimd && C % 4 === 0 ? forwardSimd(io, inputs, a, B, HW, C) : null;
  if (simd) return simd;
  const G = a.groups;
  const Cg = C / G;
  const N = HW * Cg;
  const outs = [io.make(inputs.x.shape), io.make([B, G]), io.make([B, G])];
  const [y, mean, rstd] = outs.map((o) => io.read(o));
  const x = io.read(inputs.x);
  const gamma = io.read(inputs.gamma);
  const beta = io.read(inputs.beta);
  for (let b = 0; b < B; b++) {
    const base = b * HW * C;
    for (let g = 0; g < G; g++) {
      const c0 = g * Cg;
      let s = 0;
      for (let p = 0; p < HW; p++) {
        const o = base + p * C + c0;
        for (let k = 0; k < Cg; k++) s += x[o + k];
      }
      const mu = s / N;
      let v = 0;
      for (let p = 0; p < HW; p++) {
        const o = base + p * C + c0;
        for (let k = 0; k < Cg; k++) {
          const d = x[o + k] - mu;
          v += d * d;
        }
      }
      // the output uses the statistics as stored (float32), so the gradient recomputes the same z
      mean[b * G + g] = mu;
      rstd[b * G + g] = 1 / Math.sqrt(v / N + a.eps);
      const m32 = mean[b * G + g];
      const r32 = rstd[b * G + g];
      for (let p = 0; p < HW; p++) {
        const o = base + p * C + c0;
        for (let k = 0; k < Cg; k++) {
          const z = gamma[c0 + k] * ((x[o + k] - m32) * r32) + beta[c0 + k];
          y[o + k] = a.silu ? z / (1 + fastExp(-z)) : z;
        }
      }
    }
  }
  return outs;
}

function backward(
  io: HostIO,
  inputs: { dy: Info; x: Info; gamma: Info; beta: Info; mean: Info; rstd: Info; y?: Info },
  a: GroupNormAttrs,
): Info[] {
  const [B, HW, C] = checkInputs(GROUP_NORM_GRAD, inputs.x, inputs.gamma, inputs.beta, a.groups);
  const simd = useSimd && C % 4 === 0 ? backwardSimd(io, inputs, a, B, HW, C) : null;
  if (simd) return simd;
  const G = a.groups;
  const Cg = C / G;
  const N = HW * Cg;
  const outs = [io.make(inputs.x.shape), io.make([C]), io.make([C])];
  const [dx, dg, db] = outs.map((o) => io.read(o));
  const dy = io.read(inputs.dy);
  const x = io.read(inputs.x);
  const gamma = io.read(inputs.gamma);
  const beta = io.read(inputs.beta);
  const mean = io.read(inputs.mean);
  const rstd = io.read(inputs.rstd);
  // with SiLU, the forward output y = z·σ(z) gives σ(z) = y / z without another exponential: z here
  // is the forward's own float64 value (same float32 inputs, same operations), so the only error
  // is y's float32 rounding (2⁻²⁴ relative); z = 0 and an underflowed y take the exponential
  const y = a.silu && inputs.y ? io.read(inputs.y) : null;
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const d = new Float64Array(N); // dz·γ of the current group
  for (let b = 0; b < B; b++) {
    const base = b * HW * C;
    for (let g = 0; g < G; g++) {
      const c0 = g * Cg;
      const mu = mean[b * G + g];
      const r = rstd[b * G + g];
      let s1 = 0;
      let s2 = 0;
      let j = 0;
      for (let p = 0; p < HW; p++) {
        const o = base + p * C + c0;
        for (let k = 0; k < Cg; k++, j++) {
          const c = c0 + k;
          const xh = (x[o + k] - mu) * r;
          let dz = dy[o + k];
          if (a.silu) {
            const z = gamma[c] * xh + beta[c];
            const yz = y ? y[o + k] : 0;
            const sg = yz > 1e-30 || yz < -1e-30 ? yz / z : 1 / (1 + fastExp(-z));
            dz *= sg * (1 + z * (1 - sg));
          }
          dgamma[c] += dz * xh;
          dbeta[c] += dz;
          const dd = dz * gamma[c];
          d[j] = dd;
          s1 += dd;
          s2 += dd * xh;
        }
      }
      const m1 = s1 / N;
      const m2 = s2 / N;
      j = 0;
      for (let p = 0; p < HW; p++) {
        const o = base + p * C + c0;
        for (let k = 0; k < Cg; k++, j++) dx[o + k] = r * (d[j] - m1 - (x[o + k] - mu) * r * m2);
      }
    }
  }
  dg.set(dgamma);
  db.set(dbeta);
  return outs;
}

function kernels(backendName: "wasm" | "cpu"): tf.KernelConfig[] {
  return [
    {
      kernelName: GROUP_NORM,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        forward(
          hostIO(backendName, backend),
          inputs as { x: Info; gamma: Info; beta: Info },
          attrs as unknown as GroupNormAttrs,
        ),
    },
    {
      kernelName: GROUP_NORM_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) =>
        backward(
          hostIO(backendName, backend),
          inputs as { dy: Info; x: Info; gamma: Info; beta: Info; mean: Info; rstd: Info; y?: Info },
          attrs as unknown as GroupNormAttrs,
        ),
    },
  ];
}

export const GROUP_NORM_GRAD_CONFIG: tf.GradConfig = {
  kernelName: GROUP_NORM,
  inputsToSave: ["x", "gamma", "beta"],
  outputsToSave: [true, true, true],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma, beta, y, mean, rstd] = saved;
    const dys = Array.isArray(dy) ? dy[0] : dy;
    // computed here, once: the engine calls each closure below inside its own tidy, which would
    // dispose the other two outputs if the kernel ran in the first closure
    const [dx, dgamma, dbeta] = tf
      .engine()
      .runKernel(
        GROUP_NORM_GRAD,
        { dy: dys, x, gamma, beta, mean, rstd, y },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
};

/** Register the kernels on wasm and cpu and the gradient (idempotent). */
export function registerGroupNormKernels(): void {
  for (const b of ["wasm", "cpu"] as const) {
    for (const k of kernels(b)) if (!tf.getKernel(k.kernelName, b)) tf.registerKernel(k);
  }
  if (!tf.getGradient(GROUP_NORM)) tf.registerGradient(GROUP_NORM_GRAD_CONFIG);
}

/** True when the fused kernel runs on the current backend. */
export function hasFusedGroupNorm(): boolean {
  return tf.getKernel(GROUP_NORM, tf.getBackend()) !== undefined;
}

/** GroupNorm (+ SiLU) through the fused kernel; the caller checks `hasFusedGroupNorm()`. */
export function groupNormFused(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor, attrs: GroupNormAttrs): tf.Tensor4D {
  const [y, mean, rstd] = tf
    .engine()
    .runKernel(GROUP_NORM, { x, gamma, beta }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
  tf.dispose([mean, rstd]);
  return y as tf.Tensor4D;
}
