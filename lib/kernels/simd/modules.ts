/**
 * The project's WebAssembly SIMD kernels (sources: the .wat files beside this one, assembled into
 * binaries.ts by scripts/build-wasm.cjs). Each thread instantiates a module once, on first use;
 * its memory grows to the largest request and is reused.
 */
import * as bin from "./binaries";

// The little of the WebAssembly API used here (this project's TypeScript libs have no DOM types).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** True where this runtime validates WebAssembly with 128-bit SIMD (Node ≥ 16.4 does). */
export const simdSupported: boolean = (() => {
  try {
    // (module (func (result v128) (v128.const i64x2 0 0)))
    return WA.validate(
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
      ]),
    );
  } catch {
    return false;
  }
})();

/** A module instance with a growable scratch memory addressed in bytes from 0. */
export class SimdModule<E> {
  readonly exports: E;
  private readonly memory: WasmMemory;
  private f32View = new Float32Array(0);
  private f64View = new Float64Array(0);
  // (the views are remade only after the memory grew: growing replaces its buffer)

  constructor(base64: string) {
    const inst = new WA.Instance(new WA.Module(Buffer.from(base64, "base64")));
    this.exports = inst.exports as unknown as E;
    this.memory = inst.exports.memory as WasmMemory;
  }

  /**
   * Make at least `bytes` bytes addressable (growing invalidates earlier views: take them after).
   * False where the memory cannot grow that far (a wasm32 memory stops at 4 GB): the caller then takes
   * its path without SIMD.
   */
  reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    try {
      this.memory.grow(Math.ceil((bytes - have) / 65536));
      return true;
    } catch {
      return false;
    }
  }

  /** float32 view of the whole memory */
  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.f32View = new Float32Array(this.memory.buffer);
    return this.f32View;
  }

  /** float64 view of the whole memory */
  get f64(): Float64Array {
    if (this.f64View.buffer !== this.memory.buffer) this.f64View = new Float64Array(this.memory.buffer);
    return this.f64View;
  }
}

/** The module of `base64`, instantiated on first use (once per thread). */
function lazyModule<E>(base64: string): () => SimdModule<E> {
  let mod: SimdModule<E> | null = null;
  return () => (mod ??= new SimdModule<E>(base64));
}

export interface GroupNormExports {
  stats(x: number, hw: number, c: number, sum: number, sq: number): void;
  forward(x: number, y: number, hw: number, c: number, prm: number, silu: number): void;
  backward1(dy: number, x: number, d: number, hw: number, c: number, prm: number, acc: number, silu: number): void;
  backward2(d: number, x: number, dx: number, hw: number, c: number, prm: number, prm2: number): void;
}

export const groupNormModule = lazyModule<GroupNormExports>(bin.groupnorm);

export interface GemmExports {
  gemm(a: number, b: number, c: number, G: number, M: number, N4: number, K: number): void;
}

export const gemmModule = lazyModule<GemmExports>(bin.gemm);

export interface ReduceExports {
  colsum(x: number, rows: number, cols: number, out: number): void;
}

export const reduceModule = lazyModule<ReduceExports>(bin.reduce);

export interface TransposeExports {
  transpose(src: number, dst: number, G: number, R: number, C: number): void;
  blocks(src: number, dst: number, G: number, R: number, C: number, D: number): void;
}

export const transposeModule = lazyModule<TransposeExports>(bin.transpose);
