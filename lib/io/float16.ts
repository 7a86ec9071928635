/**
 * IEEE 754 binary16 (half) and bfloat16 conversion on TypedArrays, bit-exact.
 *
 * half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; largest finite 65504, smallest normal 2^-14,
 * smallest subnormal 2^-24. float32 → half rounds to nearest, ties to even (IEEE 754 §4.3.1, what
 * torch's `.half()` and numpy's `astype(float16)` do); magnitudes ≥ 65520 round to ±Inf.
 * bfloat16 is the top 16 bits of a float32 (Kalamkar et al. 2019), so widening is a shift.
 */

/** What to do when a finite float32 rounds to ±Inf in half precision. */
export type OverflowMode = "inf" | "error";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The half bits of float32 bits `f` (round to nearest even). Overflow gives ±Inf. */
function halfBitsFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its sign and top payload bits, forced quiet so it stays a NaN
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // half exponent field
  if (e >= 0x1f) return sign | 0x7c00; // |x| ≥ 2^16: beyond any rounding back into range
  if (e <= 0) {
    // half subnormal: value = m · 2^-24 with m = (1.mant · 2^(exp−127)) / 2^-24 = full >> (126 − exp)
    const shift = 126 - exp;
    if (shift > 24) return sign; // |x| < 2^-25 rounds to ±0 (shift = 24 still keeps the round bit)
    const full = mant | 0x800000;
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (m & 1) === 1)) m++; // may carry into the smallest normal: correct
    return sign | m;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach the exponent, up to Inf: correct
  return h;
}

/** One float32 value → half bits. */
export function toHalfBits(x: number, overflow: OverflowMode = "inf"): number {
  f32[0] = x;
  const h = halfBitsFromFloatBits(u32[0]);
  if (overflow === "error" && (h & 0x7fff) === 0x7c00 && Number.isFinite(f32[0])) {
    throw new RangeError(`${x} is out of float16 range (largest finite 65504)`);
  }
  return h;
}

/** Half bits → the exact value as a number. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

let halfTable: Float32Array | undefined;
/** All 65,536 half values as float32 (256 KiB), for fast widening. NaN payloads are kept. */
function table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const exp = (h >>> 10) & 0x1f;
    if (exp === 0x1f) {
      // Inf / NaN: widen the bit pattern (sign, all-ones exponent, payload in the top mantissa bits)
      bits[h] = ((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13);
    } else {
      t[h] = fromHalfBits(h);
    }
  }
  return (halfTable = t);
}

/**
 * float32 → half bits, element by element.
 * @param overflow "inf" (default; torch's behaviour) or "error": a finite value beyond ±65504 that
 *   rounds to ±Inf throws a RangeError naming `what` and the index.
 */
export function encodeFloat16(src: Float32Array, overflow: OverflowMode = "inf", what = "tensor"): Uint16Array {
  const out = new Uint16Array(src.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const f = bits[i];
    const h = halfBitsFromFloatBits(f);
    out[i] = h;
    if (overflow === "error" && (h & 0x7fff) === 0x7c00 && ((f >>> 23) & 0xff) !== 0xff) {
      throw new RangeError(
        `${what}: value ${src[i]} at index ${i} is out of float16 range (largest finite 65504); save as F32 or rescale`,
      );
    }
  }
  return out;
}

/** half bits → float32 (exact: every half is a float32). */
export function decodeFloat16(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** bfloat16 bits → float32 (exact: the bits become the float32's high half). */
export function decodeBFloat16(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}
