/**
 * Gradient functions for every op the project differentiates through.
 *
 * The CommonJS bundle of `@tensorflow/tfjs-core` ships no gradient configs at all (the union
 * package `@tensorflow/tfjs` registers them from ES modules that Node cannot load from this
 * package), so `tf.grad` fails on every op until these are registered. Each config below is the
 * math of the matching file in tfjs-core `src/gradients/<Kernel>_grad.ts` (Apache-2.0, v4.22),
 * written against the public API. They are backend-agnostic; speed comes from the kernels the
 * gradients call (see `conv.ts`, `matmul.ts`).
 */
import * as tf from "@tensorflow/tfjs-core";

type T = tf.Tensor;
const { getReductionAxes, assertAndGetBroadcastShape, getUndoAxesPermutation } = tf.backend_util;

/** Sum `g` over the axes that broadcasting added to `shape`, then give it that shape. */
function unbroadcast(g: T, shape: number[], outShape: number[]): T {
  const axes = getReductionAxes(shape, outShape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

/** Binary elementwise op: d/da = dy * fa(a, b), d/db = dy * fb(a, b), reduced over broadcast axes. */
function binary(kernelName: string, fa: (dy: T, a: T, b: T) => T, fb: (dy: T, a: T, b: T) => T): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const out = assertAndGetBroadcastShape(a.shape, b.shape);
      return {
        a: () => unbroadcast(fa(dy as T, a, b), a.shape, out),
        b: () => unbroadcast(fb(dy as T, a, b), b.shape, out),
      };
    },
  };
}

/** Unary op whose derivative is a function of its input x. */
function unaryX(kernelName: string, f: (dy: T, x: T) => T): tf.GradConfig {
  return { kernelName, inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => f(dy as T, x) }) };
}

/** Unary op whose derivative is a function of its output y. */
function unaryY(kernelName: string, f: (dy: T, y: T) => T): tf.GradConfig {
  return { kernelName, outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => f(dy as T, y) }) };
}

/** Shape of x with the reduced axes kept as 1 (for broadcasting dy back). */
function keptShape(shape: number[], axes: number[]): number[] {
  const s = shape.slice();
  for (const a of axes) s[a] = 1;
  return s;
}

/** Mirrors TF's _GatherDropNegatives: gather rows of x, zero where the segment id is negative. */
function gatherDropNegatives(x: T, ids: T): T {
  const gathered = tf.gather(x, tf.maximum(ids, tf.zerosLike(ids)));
  let positive: T = tf.greaterEqual(ids, tf.scalar(0, "int32"));
  for (let i = 0; i < gathered.rank - ids.rank; i++) positive = tf.expandDims(positive, i + 1);
  positive = tf.logicalAnd(positive, tf.ones(gathered.shape, "bool"));
  return tf.where(positive, gathered, tf.zerosLike(gathered));
}

const f32 = (t: T) => tf.cast(t, "float32");

/** Gradients of a list-input op, keyed by input index. */
function byIndex(ts: T[]): Record<string, () => T> {
  return Object.fromEntries(ts.map((t, i) => [i, () => t]));
}

/** All configs, one per kernel name; the kernel names are tfjs-core's. */
export const GRADIENT_CONFIGS: tf.GradConfig[] = [
  // Arithmetic (Add_grad, Sub_grad, Multiply_grad, RealDiv_grad, ...).
  binary(
    "Add",
    (dy) => dy,
    (dy) => dy,
  ),
  binary(
    "Sub",
    (dy) => dy,
    (dy) => tf.neg(dy),
  ),
  binary(
    "Multiply",
    (dy, _a, b) => tf.mul(dy, f32(b)),
    (dy, a) => tf.mul(dy, f32(a)),
  ),
  binary(
    "RealDiv",
    (dy, _a, b) => tf.div(dy, f32(b)),
    (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), tf.square(f32(b)))),
  ),
  binary(
    "SquaredDifference",
    (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
    (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a))),
  ),
  binary(
    "Maximum",
    (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.less(a, b))),
  ),
  binary(
    "Minimum",
    (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))),
    (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b))),
  ),
  {
    // Pow_grad: d/da = b a^(b-1); d/db = y log(a) where a > 0.
    kernelName: "Pow",
    inputsToSave: ["a", "b"],
    outputsToSave: [true],
    gradFunc: (dy, [a, b, y]) => {
      const out = assertAndGetBroadcastShape(a.shape, b.shape);
      return {
        a: () => unbroadcast(tf.mul(dy as T, tf.mul(f32(b), tf.pow(a, tf.sub(f32(b), 1)))), a.shape, out),
        b: () =>
          unbroadcast(tf.mul(dy as T, tf.mul(y, tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a)))), b.shape, out),
      };
    },
  },
  {
    kernelName: "AddN",
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [i, () => tf.clone(dy as T)])),
  },
  // Unary math.
  { kernelName: "Neg", gradFunc: (dy) => ({ x: () => tf.neg(dy as T) }) },
  unaryX("Abs", (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
  unaryX("Square", (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
  unaryX("Sqrt", (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  unaryX("Rsqrt", (dy, x) => tf.neg(tf.div(dy, tf.mul(tf.pow(x, 1.5), 2)))),
  unaryX("Reciprocal", (dy, x) => tf.div(dy, tf.neg(tf.square(x)))),
  unaryY("Exp", (dy, y) => tf.mul(dy, y)),
  unaryX("Expm1", (dy, x) => tf.mul(dy, tf.exp(x))),
  unaryX("Log", (dy, x) => tf.div(dy, f32(x))),
  unaryX("Log1p", (dy, x) => tf.div(dy, tf.add(x, 1))),
  unaryX("Sin", (dy, x) => tf.mul(tf.cos(f32(x)), dy)),
  unaryX("Cos", (dy, x) => tf.mul(tf.neg(tf.sin(f32(x))), dy)),
  // Erf_grad: d erf(x)/dx = 2/sqrt(pi) exp(-x^2).
  unaryX("Erf", (dy, x) => tf.mul(dy, tf.mul(tf.exp(tf.neg(tf.square(x))), 2 / Math.sqrt(Math.PI)))),
  // Activations.
  unaryY("Sigmoid", (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryY("Tanh", (dy, y) => tf.mul(tf.sub(1, tf.square(y)), dy)),
  unaryX("Softplus", (dy, x) => tf.mul(dy, tf.sigmoid(x))),
  unaryX("Relu", (dy, x) => tf.mul(dy, f32(tf.step(x)))),
  unaryX("Relu6", (dy, x) => tf.mul(dy, f32(tf.logicalAnd(tf.greater(x, 0), tf.lessEqual(x, 6))))),
  unaryY("Elu", (dy, y) => tf.engine().runKernel("EluGrad", { dy, y }) as T),
  {
    kernelName: "LeakyRelu",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => ({
      x: () => tf.where(tf.greater(x, 0), dy as T, tf.mul(dy as T, attrs.alpha as number)),
    }),
  },
  {
    kernelName: "ClipByValue",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => ({
      x: () =>
        tf.where(
          tf.logicalAnd(
            tf.greaterEqual(x, attrs.clipValueMin as number),
            tf.lessEqual(x, attrs.clipValueMax as number),
          ),
          dy as T,
          tf.zerosLike(dy as T),
        ),
    }),
  },
  // Piecewise-constant ops: zero gradient (Floor_grad, Round_grad, Sign_grad, Step_grad).
  ...["Floor", "Ceil", "Round", "Sign", "Step"].map((k): tf.GradConfig => ({
    kernelName: k,
    gradFunc: (dy) => ({ x: () => tf.zerosLike(dy as T) }),
  })),
  // Comparisons and logic: boolean outputs, zero gradient to every input (GreaterEqual_grad etc.).
  ...["Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual", "LogicalAnd", "LogicalOr"].map(
    (k): tf.GradConfig => ({
      kernelName: k,
      inputsToSave: ["a", "b"],
      gradFunc: (_dy, [a, b]) => ({ a: () => f32(tf.zerosLike(a)), b: () => f32(tf.zerosLike(b)) }),
    }),
  ),
  ...["LogicalNot", "ArgMax", "ArgMin", "OnesLike", "ZerosLike", "IsNan", "IsInf", "IsFinite"].map(
    (k): tf.GradConfig => ({
      kernelName: k,
      inputsToSave: ["x"],
      gradFunc: (_dy, [x]) => ({ x: () => f32(tf.zerosLike(x)) }),
    }),
  ),
  { kernelName: "Cast", gradFunc: (dy) => ({ x: () => tf.clone(dy as T) }) },
  { kernelName: "Identity", gradFunc: (dy) => ({ x: () => f32(dy as T) }) },
  {
    kernelName: "Select",
    inputsToSave: ["condition"],
    gradFunc: (dy, [c]) => ({
      condition: () => f32(tf.zerosLike(c)),
      t: () => tf.mul(dy as T, tf.cast(c, (dy as T).dtype)),
      e: () => tf.mul(dy as T, tf.cast(tf.logicalNot(c), (dy as T).dtype)),
    }),
  },
  // Reductions.
  {
    kernelName: "Sum",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const axes = tf.util.parseAxisParam(attrs.axis as number[], x.shape);
      return { x: () => tf.mul(tf.reshape(dy as T, keptShape(x.shape, axes)), tf.ones(x.shape, "float32")) };
    },
  },
  {
    kernelName: "Mean",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const axes = tf.util.parseAxisParam(attrs.axis as number[], x.shape);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      return { x: () => tf.div(tf.mul(tf.reshape(dy as T, keptShape(x.shape, axes)), tf.ones(x.shape, "float32")), n) };
    },
  },
  ...(["Max", "Min"] as const).map((kernelName): tf.GradConfig => ({
    // min_max_grad_util: the gradient flows to every element equal to the extremum.
    kernelName,
    inputsToSave: ["x"],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => {
      const axes = tf.util.parseAxisParam(
        (kernelName === "Max" ? attrs.reductionIndices : attrs.axis) as number[],
        x.shape,
      );
      const k = keptShape(x.shape, axes);
      return { x: () => tf.mul(tf.reshape(dy as T, k), tf.cast(tf.equal(x, tf.reshape(y, k)), (dy as T).dtype)) };
    },
  })),
  {
    // Softmax_grad: dx = y (dy - sum(dy y)).
    kernelName: "Softmax",
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dyTimesY = tf.mul(dy as T, y);
      return { logits: () => tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [attrs.dim as number], true), y)) };
    },
  },
  {
    // LogSoftmax_grad: dx = dy - sum(dy) softmax.
    kernelName: "LogSoftmax",
    outputsToSave: [true],
    gradFunc: (dy, [value], attrs) => ({
      logits: () => tf.sub(dy as T, tf.mul(tf.sum(dy as T, attrs.axis as number, true), tf.exp(value))),
    }),
  },
  // Shape and data movement.
  { kernelName: "Reshape", inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as T, x.shape) }) },
  {
    kernelName: "ExpandDims",
    inputsToSave: ["input"],
    gradFunc: (dy, [x]) => ({ input: () => tf.reshape(dy as T, x.shape) }),
  },
  {
    kernelName: "Transpose",
    gradFunc: (dy, _s, attrs) => ({ x: () => tf.transpose(dy as T, getUndoAxesPermutation(attrs.perm as number[])) }),
  },
  {
    kernelName: "Concat",
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = tf.util.parseAxisParam(attrs.axis as number, saved[0].shape)[0];
      return byIndex(
        tf.split(
          dy as T,
          saved.map((t) => t.shape[axis]),
          axis,
        ),
      );
    },
  },
  { kernelName: "SplitV", gradFunc: (dy, _s, attrs) => ({ x: () => tf.concat(dy as T[], attrs.axis as number) }) },
  {
    kernelName: "Pack",
    saveAllInputs: true,
    gradFunc: (dy, _s, attrs) => byIndex(tf.unstack(dy as T, attrs.axis as number)),
  },
  { kernelName: "Unpack", gradFunc: (dy, _s, attrs) => ({ value: () => tf.stack(dy as T[], attrs.axis as number) }) },
  {
    kernelName: "Slice",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin as number[], attrs.size as number[]);
      const paddings = x.shape.map((n, i) => [begin[i], n - begin[i] - size[i]] as [number, number]);
      return { x: () => tf.pad(dy as T, paddings) };
    },
  },
  {
    kernelName: "PadV2",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => ({
      x: () =>
        tf.slice(
          dy as T,
          (attrs.paddings as number[][]).map((p) => p[0]),
          x.shape,
        ),
    }),
  },
  {
    // Tile_grad: sum the tiles back; written for any rank as a reshape to [reps_i, n_i] pairs.
    kernelName: "Tile",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => {
      const reps = attrs.reps as number[];
      const split = reps.flatMap((r, i) => [r, x.shape[i]]);
      const axes = reps.map((_, i) => 2 * i);
      return { x: () => tf.reshape(tf.sum(tf.reshape(dy as T, split), axes), x.shape) };
    },
  },
  {
    kernelName: "BroadcastTo",
    gradFunc: (dy, _s, attrs) => {
      const inShape = attrs.inputShape as number[];
      const outShape = attrs.shape as number[];
      const offset = outShape.length - inShape.length;
      const axes = outShape.map((_, i) => i).filter((i) => i < offset || inShape[i - offset] !== outShape[i]);
      return { x: () => tf.reshape(tf.sum(dy as T, axes), inShape) };
    },
  },
  {
    // GatherV2_grad (batchDims 0): scatter-add dy rows back with UnsortedSegmentSum.
    kernelName: "GatherV2",
    inputsToSave: ["x", "indices"],
    gradFunc: (dy, [x, indices], attrs) => {
      if ((attrs.batchDims as number) > 0)
        throw new Error("gradient of gather with batchDims > 0 is not supported; gather per batch item instead");
      const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0];
      return {
        x: () => {
          const outer = x.shape.slice(0, axis);
          const inner = x.shape.slice(axis + 1);
          const values = tf.reshape(dy as T, [...outer, indices.size, ...inner]);
          // Move the gathered axis to the front, scatter-add, move it back.
          const perm = [outer.length, ...outer.map((_, i) => i), ...inner.map((_, i) => outer.length + 1 + i)];
          const summed = tf.unsortedSegmentSum(
            tf.transpose(values, perm),
            tf.reshape(indices, [indices.size]) as tf.Tensor1D,
            x.shape[axis],
          );
          return tf.transpose(summed, getUndoAxesPermutation(perm));
        },
        indices: () => indices,
      };
    },
  },
  {
    kernelName: "UnsortedSegmentSum",
    inputsToSave: ["segmentIds"],
    gradFunc: (dy, [ids]) => ({ x: () => gatherDropNegatives(dy as T, ids) }),
  },
  {
    kernelName: "ResizeNearestNeighbor",
    inputsToSave: ["images"],
    gradFunc: (dy, [images], attrs) => ({
      images: () => tf.engine().runKernel("ResizeNearestNeighborGrad", { dy: dy as T, images }, attrs) as T,
    }),
  },
  {
    kernelName: "ResizeBilinear",
    inputsToSave: ["images"],
    gradFunc: (dy, [images], attrs) => ({
      images: () => tf.engine().runKernel("ResizeBilinearGrad", { dy: dy as T, images }, attrs) as T,
    }),
  },
  // Linear algebra and convolution: the kernels called here are the fast ones on wasm.
  {
    // BatchMatMul_grad.
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b], attrs) => {
      const g = dy as T;
      const ta = attrs.transposeA as boolean;
      const tb = attrs.transposeB as boolean;
      const outShape = assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
      // Broadcast batch dims are summed back (tfjs 4.22 misses this; TF's MatMul grad does it).
      const fit = (t: T, like: T) => unbroadcast(t, like.shape, [...outShape, ...like.shape.slice(-2)]);
      if (!ta && !tb)
        return { a: () => fit(tf.matMul(g, b, false, true), a), b: () => fit(tf.matMul(a, g, true, false), b) };
      if (!ta && tb)
        return { a: () => fit(tf.matMul(g, b, false, false), a), b: () => fit(tf.matMul(g, a, true, false), b) };
      if (ta && !tb)
        return { a: () => fit(tf.matMul(b, g, false, true), a), b: () => fit(tf.matMul(a, g, false, false), b) };
      return { a: () => fit(tf.matMul(b, g, true, true), a), b: () => fit(tf.matMul(g, a, true, true), b) };
    },
  },
  {
    // Conv2D_grad: dx = Conv2DBackpropInput(dy, w), dw = Conv2DBackpropFilter(x, dy).
    kernelName: "Conv2D",
    inputsToSave: ["x", "filter"],
    gradFunc: (dy, [x, filter], attrs) => {
      const { strides, pad, dataFormat, dimRoundingMode, dilations } = attrs;
      const d =
        typeof dilations === "number" ? [dilations, dilations] : ((dilations as number[] | undefined) ?? [1, 1]);
      if (d[0] !== 1 || d[1] !== 1)
        throw new Error(`gradient of conv2d with dilations ${d} is not supported; use dilations 1`);
      return {
        x: () =>
          tf
            .engine()
            .runKernel(
              "Conv2DBackpropInput",
              { dy: dy as T, filter },
              { strides, pad, dataFormat, dimRoundingMode, inputShape: x.shape },
            ) as T,
        filter: () =>
          tf
            .engine()
            .runKernel(
              "Conv2DBackpropFilter",
              { x, dy: dy as T },
              { strides, pad, dataFormat, dimRoundingMode, filterShape: filter.shape },
            ) as T,
      };
    },
  },
  {
    // Conv2DBackpropInput_grad (the gradient of conv2dTranspose).
    kernelName: "Conv2DBackpropInput",
    inputsToSave: ["dy", "filter"],
    gradFunc: (ddx, [dy, filter], attrs) => {
      const { strides, pad, dataFormat, dimRoundingMode } = attrs;
      return {
        dy: () =>
          tf.conv2d(
            ddx as tf.Tensor4D,
            filter as tf.Tensor4D,
            strides as [number, number],
            pad as "same",
            dataFormat as "NHWC",
            1,
            dimRoundingMode as "round" | undefined,
          ),
        filter: () =>
          tf
            .engine()
            .runKernel(
              "Conv2DBackpropFilter",
              { x: ddx as T, dy },
              { strides, pad, dataFormat, dimRoundingMode, filterShape: filter.shape },
            ) as T,
      };
    },
  },
  {
    // AvgPool_grad.
    kernelName: "AvgPool",
    inputsToSave: ["x"],
    gradFunc: (dy, [x], attrs) => ({
      x: () => tf.engine().runKernel("AvgPoolGrad", { dy: dy as T, input: x }, attrs) as T,
    }),
  },
];

const ours = new WeakSet<tf.GradConfig>();

/**
 * Register the gradient of every op above that has none yet (idempotent; gradients registered
 * by someone else are left alone). Returns the kernel names registered by this call.
 */
export function registerGradients(): string[] {
  const added: string[] = [];
  for (const config of GRADIENT_CONFIGS) {
    const existing = tf.getGradient(config.kernelName);
    if (existing != null) continue;
    ours.add(config);
    tf.registerGradient(config);
    added.push(config.kernelName);
  }
  return added;
}
