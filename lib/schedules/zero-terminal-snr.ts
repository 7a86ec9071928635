/**
 * Zero terminal SNR: the paper's Algorithm 1, from Lin et al. 2023 ("Common Diffusion Noise
 * Schedules and Sample Steps are Flawed", Algorithm 1 `enforce_zero_terminal_snr`).
 *
 * Shift sqrt(ᾱ) so that its last value is 0, scale it so that its first value is unchanged, square,
 * and turn the ratios of consecutive ᾱ back into betas. Then ᾱ_T = 0 and β_T = 1 exactly: x_T is pure
 * noise and carries nothing of the image, not even its mean brightness.
 */
export function enforceZeroTerminalSnr(betas: Float64Array): Float64Array {
  const T = betas.length;
  // 1. sqrt(ᾱ_t) of the given schedule
  const sqrtAbar = new Float64Array(T);
  let abar = 1;
  for (let i = 0; i < T; i++) {
    abar *= 1 - betas[i];
    sqrtAbar[i] = Math.sqrt(abar);
  }
  const first = sqrtAbar[0];
  const last = sqrtAbar[T - 1];
  if (!(first > last)) {
    throw new Error(
      `zero terminal SNR needs sqrt(ᾱ) to decrease from t = 1 to t = T (got ${first} then ${last}): ` +
        "check that the schedule's betas are positive",
    );
  }
  // 2. shift so the last is zero, scale so the first is kept: first · (x − last)/(first − last),
  //    written so that t = 1 gives first · 1 exactly and t = T gives first · 0 exactly.
  const range = first - last;
  const out = new Float64Array(T);
  let prev = 1;
  for (let i = 0; i < T; i++) {
    const s = first * ((sqrtAbar[i] - last) / range);
    const a = s * s; // 3. back to ᾱ
    out[i] = 1 - a / prev; // 4. β_t = 1 − ᾱ_t / ᾱ_{t−1}, with ᾱ_0 = 1
    prev = a;
  }
  return out;
}
