import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeBFloat16, decodeFloat16, encodeFloat16, fromHalfBits, toHalfBits } from "./float16";

// Bit patterns from IEEE 754-2008 binary16 (exponent bias 15, 10 mantissa bits); the same table is in
// the "Half-precision floating-point format" examples: 1 = 3C00, -2 = C000, 65504 = 7BFF,
// 2^-14 = 0400 (smallest normal), 2^-24 = 0001 (smallest subnormal), 1/3 ≈ 3555.
const known: [number, number][] = [
  [0, 0x0000],
  [-0, 0x8000],
  [1, 0x3c00],
  [-2, 0xc000],
  [65504, 0x7bff],
  [2 ** -14, 0x0400],
  [2 ** -24, 0x0001],
  [1023 * 2 ** -24, 0x03ff],
  [1 / 3, 0x3555],
  [0.5, 0x3800],
  [Infinity, 0x7c00],
  [-Infinity, 0xfc00],
];

test("known float16 bit patterns, both directions", () => {
  for (const [x, h] of known) {
    assert.equal(toHalfBits(x), h, `toHalfBits(${x})`);
    assert.ok(Object.is(fromHalfBits(h), x === 1 / 3 ? 0.333251953125 : x), `fromHalfBits(0x${h.toString(16)})`);
  }
  assert.ok(Number.isNaN(fromHalfBits(0x7e00)));
  const nan = toHalfBits(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x3ff, 0);
});

test("round to nearest, ties to even (normal, subnormal, into the next binade, into Inf)", () => {
  const ulp1 = 2 ** -10; // spacing of halves in [1, 2)
  assert.equal(toHalfBits(1 + ulp1 / 2), 0x3c00); // tie, 0x3c00 is even
  assert.equal(toHalfBits(1 + ulp1 / 2 + 2 ** -20), 0x3c01); // just above the tie
  assert.equal(toHalfBits(1 + 1.5 * ulp1), 0x3c02); // tie between 0x3c01 (odd) and 0x3c02
  assert.equal(toHalfBits(2 - ulp1 / 4), 0x4000); // rounds up into the next binade
  assert.equal(toHalfBits(2 ** -25), 0x0000); // tie between 0 and 2^-24: 0 is even
  assert.equal(toHalfBits(1.5 * 2 ** -25), 0x0001);
  assert.equal(toHalfBits(3 * 2 ** -25), 0x0002); // 1.5 · 2^-24: tie between 1 and 2
  assert.equal(toHalfBits(2 ** -26), 0x0000);
  assert.equal(toHalfBits(-(2 ** -26)), 0x8000); // underflow keeps the sign
  assert.equal(toHalfBits(1023.5 * 2 ** -24), 0x0400); // largest subnormal + ½ulp: tie, carries to the smallest normal
  assert.equal(toHalfBits(65519), 0x7bff); // below the midpoint 65520
  assert.equal(toHalfBits(65520), 0x7c00); // midpoint: 65504 has an odd mantissa, so Inf
  assert.equal(toHalfBits(-1e6), 0xfc00);
  assert.equal(toHalfBits(1e-45), 0x0000); // a float32 subnormal
});

test("every finite half value survives float32 and back bit-exactly; NaN stays NaN", () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = decodeFloat16(all);
  const back = encodeFloat16(f);
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) {
      assert.ok(Number.isNaN(f[h]));
      assert.ok((back[h] & 0x7c00) === 0x7c00 && (back[h] & 0x3ff) !== 0, `NaN 0x${h.toString(16)}`);
    } else {
      assert.equal(back[h], h, `0x${h.toString(16)}`);
      assert.ok(Object.is(f[h], fromHalfBits(h)));
    }
  }
});

test("encodeFloat16 picks the nearest half (ties to even) for random float32 values", () => {
  // independent reference: binary search over the monotonic positive half patterns 0x0000..0x7c00
  const pos = Array.from({ length: 0x7c01 }, (_, h) => fromHalfBits(h));
  const reference = (x: number): number => {
    const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a >= 65520) return s | 0x7c00;
    let lo = 0;
    let hi = 0x7c00;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pos[mid] <= a) lo = mid;
      else hi = mid;
    }
    const dl = a - pos[lo];
    const dh = pos[hi] - a;
    return s | (dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi);
  };
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const xs = new Float32Array(50000);
  for (let i = 0; i < xs.length; i++) xs[i] = (rand() - 0.5) * 2 ** Math.floor(rand() * 48 - 30); // subnormal to beyond 65504;
  const hs = encodeFloat16(xs);
  for (let i = 0; i < xs.length; i++) assert.equal(hs[i], reference(xs[i]), `x = ${xs[i]}`);
});

test("overflow: Inf by default, a clear error on request", () => {
  const x = new Float32Array([1, 70000, -3]);
  assert.equal(encodeFloat16(x)[1], 0x7c00);
  assert.throws(
    () => encodeFloat16(x, "error", 'tensor "w"'),
    /tensor "w": value 70000 at index 1 is out of float16 range/,
  );
  // a real Inf is not an overflow
  assert.equal(encodeFloat16(new Float32Array([-Infinity]), "error")[0], 0xfc00);
  assert.throws(() => toHalfBits(65520, "error"), /out of float16 range/);
  assert.equal(toHalfBits(65504, "error"), 0x7bff);
});

test("bfloat16 widens to the float32 with the same top 16 bits", () => {
  const f = decodeBFloat16(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0000, 0x8000, 0x3e80, 0x0001]));
  assert.deepEqual(Array.from(f.slice(0, 4)), [1, -2, Infinity, -Infinity]);
  assert.ok(Object.is(f[4], 0) && Object.is(f[5], -0));
  assert.equal(f[6], 0.25);
  assert.equal(new Uint32Array(f.buffer)[7], 0x00010000); // a subnormal bfloat16 stays exact
});
