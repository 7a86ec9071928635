/**
 * Conv2D gradients built from fast forward ops (NHWC, dilation 1).
 *
 * On tfjs 4.22 wasm the forward conv2d (XNNPACK) runs at ~30 GFLOP/s on one core, the native
 * Conv2DBackpropInput at ~3 and Conv2DBackpropFilter does not exist. With y = conv(x, w, stride s,
 * padding p) (Dumoulin & Visin 2016, "A guide to convolution arithmetic", §4):
 *  - the input gradient is a stride-1 convolution of dy, dilated by s (s-1 zeros between
 *    samples) and padded by (k-1-p), with the filter rotated 180° and in/out channels swapped;
 *  - the filter gradient is dW[a,b,ci,co] = Σ_{n,y,x} xpad[n, s·y+a, s·x+b, ci] dy[n,y,x,co]:
 *    im2col(x)ᵀ · dy, one matrix product (routed to the fast non-transposed GEMM by matmul.ts).
 */
import * as tf from "@tensorflow/tfjs-core";

type T4 = tf.Tensor4D;
type Pad = "same" | "valid" | number | tf.backend_util.ExplicitPadding;
type Rounding = "floor" | "round" | "ceil" | undefined;

function convInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: Pad,
  rounding: Rounding,
) {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    rounding,
    false,
    "channelsLast",
  );
}

/** Insert s-1 zeros after every sample along H and W: [n,h,w,c] -> [n, h·sh, w·sw, c] (trailing zeros included). */
export function dilateNHWC(x: T4, sh: number, sw: number): T4 {
  if (sh === 1 && sw === 1) return x;
  const [n, h, w, c] = x.shape;
  const x6 = tf.reshape(x, [n, h, 1, w, 1, c]);
  const padded = tf.pad(x6, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]);
}

/** dL/dx of y = conv2d(x, filter) with x of `inputShape`: a forward conv of the dilated dy. */
export function conv2dBackpropInputFast(
  dy: T4,
  filter: T4,
  inputShape: number[],
  strides: number | [number, number],
  pad: Pad,
  rounding?: Rounding,
): T4 {
  return tf.tidy(() => {
    const info = convInfo(inputShape, filter.shape, strides, pad, rounding);
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: H, inWidth: W } = info;
    const { top: pt, left: pl } = info.padInfo;
    let d = dilateNHWC(dy, sh, sw);
    // Full-correlation padding: k-1-p before; after, whatever makes the output H x W.
    const hd = (info.outHeight - 1) * sh + 1;
    const wd = (info.outWidth - 1) * sw + 1;
    let top = kh - 1 - pt;
    let left = kw - 1 - pl;
    let bottom = H + pt - hd - (sh - 1); // the dilation already appended sh-1 zero rows
    let right = W + pl - wd - (sw - 1);
    if (top < 0 || left < 0 || bottom < 0 || right < 0) {
      const [n, hh, ww, c] = d.shape;
      const t0 = Math.max(0, -top);
      const l0 = Math.max(0, -left);
      d = tf.slice(d, [0, t0, l0, 0], [n, hh - t0 - Math.max(0, -bottom), ww - l0 - Math.max(0, -right), c]);
      [top, left, bottom, right] = [top, left, bottom, right].map((v) => Math.max(0, v));
    }
    // padding first, then a "valid" convolution: tfjs-wasm's convolution with explicit padding
    // runs at 11-24 GFLOP/s on these shapes, the same product on a padded input at 31-36
    const padded =
      top || bottom || left || right
        ? tf.pad(d, [
            [0, 0],
            [top, bottom],
            [left, right],
            [0, 0],
          ])
        : d;
    return tf.conv2d(padded, flipFilter(filter), 1, "valid");
  });
}

/**
 * The filter of the input gradient: rotated 180° with input and output channels swapped,
 * w'[a, b, o, c] = w[kh−1−a, kw−1−b, c, o]. On the host backends one JavaScript pass (tfjs-wasm's
 * Reverse takes ~3 ms on a 3×3×128×128 filter, the pass ~0.2 ms); elsewhere reverse + transpose.
 */
export function flipFilter(w: T4): T4 {
  const [kh, kw, C, O] = w.shape;
  const b = tf.getBackend();
  if ((b !== "wasm" && b !== "cpu") || w.dtype !== "float32")
    return tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as T4);
  const src = w.dataSync() as Float32Array;
  const out = new Float32Array(src.length);
  let i = 0;
  for (let a = 0; a < kh; a++) {
    for (let bb = 0; bb < kw; bb++) {
      const dst = ((kh - 1 - a) * kw + (kw - 1 - bb)) * O * C;
      for (let c = 0; c < C; c++) {
        for (let o = 0; o < O; o++) out[dst + o * C + c] = src[i++];
      }
    }
  }
  return tf.tensor4d(out, [kh, kw, O, C]);
}

/** im2col: [n,h,w,ci] -> [n·oh·ow, kh·kw·ci], columns ordered (a, b, ci) like the filter [kh,kw,ci,co]. */
export function im2col(
  x: T4,
  filterShape: number[],
  strides: number | [number, number],
  pad: Pad,
  rounding?: Rounding,
): tf.Tensor2D {
  return tf.tidy(() => {
    const info = convInfo([...x.shape], filterShape, strides, pad, rounding);
    const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
    const { top, left } = info.padInfo;
    const [n, h, w, ci] = x.shape;
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    const xp =
      top === 0 && left === 0 && needH <= h && needW <= w
        ? x
        : tf.pad(x, [
            [0, 0],
            [top, Math.max(0, needH - top - h)],
            [left, Math.max(0, needW - left - w)],
            [0, 0],
          ]);
    const taps: tf.Tensor4D[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        if (sh === 1 && sw === 1) {
          taps.push(
            kh === 1 && kw === 1 && oh === xp.shape[1] && ow === xp.shape[2]
              ? xp
              : tf.slice(xp, [0, a, b, 0], [n, oh, ow, ci]),
          );
        } else {
          taps.push(
            tf.stridedSlice(
              xp,
              [0, a, b, 0],
              [n, a + (oh - 1) * sh + 1, b + (ow - 1) * sw + 1, ci],
              [1, sh, sw, 1],
            ) as T4,
          );
        }
      }
    }
    const cols = taps.length === 1 ? taps[0] : tf.concat(taps, 3);
    return tf.reshape(cols, [n * oh * ow, kh * kw * ci]);
  });
}

/** dL/dfilter of y = conv2d(x, filter): im2col(x)ᵀ · dy. */
export function conv2dBackpropFilterFast(
  x: T4,
  dy: T4,
  filterShape: number[],
  strides: number | [number, number],
  pad: Pad,
  rounding?: Rounding,
): T4 {
  return tf.tidy(() => {
    const [n, oh, ow, co] = dy.shape;
    const cols = im2col(x, filterShape, strides, pad, rounding);
    const dw = tf.matMul(cols, tf.reshape(dy, [n * oh * ow, co]) as tf.Tensor2D, true, false);
    return tf.reshape<tf.Rank>(dw, filterShape) as T4;
  });
}

function nhwcOnly(kernel: string, dataFormat: unknown): void {
  if (dataFormat != null && dataFormat !== "NHWC")
    throw new Error(`${kernel} on wasm: dataFormat ${dataFormat} is not supported; use NHWC`);
}

/** Conv2DBackpropFilter for wasm, which has none. */
export const conv2dBackpropFilterWasm: tf.KernelConfig = {
  kernelName: "Conv2DBackpropFilter",
  backendName: "wasm",
  kernelFunc: ({ inputs, attrs }) => {
    const { x, dy } = inputs as { x: T4; dy: T4 };
    const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    nhwcOnly("Conv2DBackpropFilter", a.dataFormat);
    return conv2dBackpropFilterFast(x, dy, a.filterShape, a.strides, a.pad as Pad, a.dimRoundingMode);
  },
};

/** Conv2DBackpropInput for wasm, replacing the native one (~10x slower than the forward conv it becomes here). */
export function conv2dBackpropInputKernel(native: tf.KernelFunc): tf.KernelConfig {
  return {
    kernelName: "Conv2DBackpropInput",
    backendName: "wasm",
    kernelFunc: (args) => {
      const { dy, filter } = args.inputs as { dy: T4; filter: T4 };
      const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
      if (
        (a.dataFormat != null && a.dataFormat !== "NHWC") ||
        !(dy instanceof tf.Tensor) ||
        !(filter instanceof tf.Tensor)
      )
        return native(args);
      return conv2dBackpropInputFast(dy, filter, [...a.inputShape], a.strides, a.pad as Pad, a.dimRoundingMode);
    },
  };
}
