/**
 * The image measures behind the paper's words about its samples, each defined once here:
 * - sharpness ("image blur", 뭉개짐): the variance of the Laplacian of the luma, the classic focus
 *   measure (Pech-Pacheco et al. 2000, "Diatom autofocusing in brightfield microscopy"): a blurred copy
 *   of an image has less of it. Compared with the instance photos' own, so 1 means "as crisp as the
 *   subject's photos".
 * - darkness ("only dark tones"): the mean luma, and the share of pixels darker than DARK_LUMA.
 * - tone variety ("more varied tones"): the standard deviation, across sampling seeds, of the images'
 *   mean luma for one prompt: how far apart the brightnesses of a prompt's samples lie.
 * Luma is Rec. 601's (ITU-R BT.601: Y' = 0.299 R' + 0.587 G' + 0.114 B') on [0, 1]; images are NHWC
 * float32 in [−1, 1] as everywhere in the library.
 */
import { luma } from "../data/attributes";

/** A pixel is dark below this luma (a quarter of the range: the "very dark" backgrounds of the faces sit there). */
export const DARK_LUMA = 0.25;

export interface ImageQuality {
  /** variance of the 4-neighbour Laplacian of the luma over interior pixels */
  laplacianVariance: number;
  meanLuma: number;
  /** share of pixels with luma below DARK_LUMA */
  darkShare: number;
}

/** Sharpness and darkness of every image of an NHWC batch in [−1, 1]. */
export function imageQuality(
  data: ArrayLike<number>,
  shape: readonly [number, number, number, number],
): ImageQuality[] {
  const [n, h, w, c] = shape;
  if (c !== 3) throw new Error(`imageQuality: images must be RGB (got ${c} channels)`);
  if (h < 3 || w < 3) throw new Error(`imageQuality: images must be at least 3×3 (got ${h}×${w})`);
  if (data.length !== n * h * w * c)
    throw new Error(`imageQuality: ${data.length} values for shape [${shape.join(", ")}]`);
  const y = new Float64Array(h * w);
  const out: ImageQuality[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * h * w * 3;
    let sum = 0;
    let dark = 0;
    for (let p = 0; p < h * w; p++) {
      const q = o + 3 * p;
      const v = luma((data[q] + 1) / 2, (data[q + 1] + 1) / 2, (data[q + 2] + 1) / 2);
      y[p] = v;
      sum += v;
      if (v < DARK_LUMA) dark++;
    }
    // Laplacian y[r−1,c] + y[r+1,c] + y[r,c−1] + y[r,c+1] − 4·y[r,c] on the interior, then its variance
    let s = 0;
    let ss = 0;
    const m = (h - 2) * (w - 2);
    for (let r = 1; r < h - 1; r++) {
      for (let k = 1; k < w - 1; k++) {
        const p = r * w + k;
        const l = y[p - w] + y[p + w] + y[p - 1] + y[p + 1] - 4 * y[p];
        s += l;
        ss += l * l;
      }
    }
    const lm = s / m;
    out.push({ laplacianVariance: ss / m - lm * lm, meanLuma: sum / (h * w), darkShare: dark / (h * w) });
  }
  return out;
}

/** Sharpness relative to a reference (the instance photos): laplacianVariance / the reference's mean. */
export function relativeSharpness(q: ImageQuality, referenceLaplacianVariance: number): number {
  if (!(referenceLaplacianVariance > 0))
    throw new Error(
      `relativeSharpness: the reference images have no detail (Laplacian variance ${referenceLaplacianVariance})`,
    );
  return q.laplacianVariance / referenceLaplacianVariance;
}

/** Tone variety of one prompt's samples: the sample standard deviation of their mean luma (0 for one image). */
export function toneVariety(meanLumas: ArrayLike<number>): number {
  const n = meanLumas.length;
  if (n < 2) return 0;
  let s = 0;
  for (let i = 0; i < n; i++) s += meanLumas[i];
  const m = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (meanLumas[i] - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}
