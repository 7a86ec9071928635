// oneDNN kernels for the tfjs wasm backend, run in place on its heap.
//
// The wasm backend keeps every tensor in one WebAssembly.Memory; JavaScript passes that memory's
// ArrayBuffer and the byte offsets of the tensors (tfjs-backend-wasm's dataIdMap memoryOffset), and
// each call computes one kernel there with oneDNN: convolutions forward and both gradients (NHWC
// activations, HWIO filters, as tfjs lays them out) and matrix products (batched, transposed, with a
// bias). Nothing is copied in or out; every offset is checked against the buffer's length first.
//
// Threads: oneDNN in Debian runs on OpenMP. `setThreads` sets the calling thread's OpenMP thread
// count (an ICV of that thread: each Node worker thread keeps its own), and primitives are cached
// per thread by shape and thread count, so a worker pool of single-threaded workers and a
// multi-threaded main thread do not disturb each other. oneDNN's CPU primitives give the same bytes
// for the same inputs, shapes, thread count and ISA (their reductions are statically partitioned).

#include <node_api.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct JsError {
  std::string message;
};

// ---------------------------------------------------------------------------------------------
// Per-thread state: engine, stream, primitive cache.

struct Op {
  virtual ~Op() = default;
};

struct ThreadState {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::unordered_map<std::string, std::unique_ptr<Op>> cache;
};

thread_local std::unique_ptr<ThreadState> tls;

ThreadState &state() {
  if (!tls) tls.reset(new ThreadState());
  return *tls;
}

// ---------------------------------------------------------------------------------------------
// N-API helpers.

void check(napi_env env, napi_status s, const char *what) {
  if (s != napi_ok) throw JsError{std::string("dnnl_kernels: ") + what + " failed"};
}

struct Args {
  napi_value argv[4];
  size_t argc = 4;
};

Args getArgs(napi_env env, napi_callback_info info) {
  Args a;
  check(env, napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, nullptr), "reading arguments");
  return a;
}

// The heap: an ArrayBuffer's base and length.
struct Heap {
  uint8_t *base;
  size_t length;
  float *at(double offset, double count, const char *name) const {
    if (!(offset >= 0) || !(count >= 0) || offset + 4 * count > double(length) || std::fmod(offset, 4.0) != 0) {
      std::ostringstream m;
      m << "dnnl_kernels: tensor " << name << " at byte " << offset << " with " << count
        << " floats is outside the heap of " << length << " bytes";
      throw JsError{m.str()};
    }
    return reinterpret_cast<float *>(base + size_t(offset));
  }
};

Heap getHeap(napi_env env, napi_value v) {
  bool is = false;
  check(env, napi_is_arraybuffer(env, v, &is), "napi_is_arraybuffer");
  if (!is) throw JsError{"dnnl_kernels: the first argument must be the wasm heap's ArrayBuffer"};
  void *data = nullptr;
  size_t len = 0;
  check(env, napi_get_arraybuffer_info(env, v, &data, &len), "napi_get_arraybuffer_info");
  if (data == nullptr) throw JsError{"dnnl_kernels: the heap ArrayBuffer is detached"};
  return Heap{static_cast<uint8_t *>(data), len};
}

// A Float64Array of parameters.
std::vector<double> getParams(napi_env env, napi_value v, size_t expected, const char *fn) {
  bool is = false;
  check(env, napi_is_typedarray(env, v, &is), "napi_is_typedarray");
  napi_typedarray_type type;
  size_t length = 0;
  void *data = nullptr;
  if (is) {
    check(env, napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr), "napi_get_typedarray_info");
  }
  if (!is || type != napi_float64_array || length != expected) {
    std::ostringstream m;
    m << "dnnl_kernels." << fn << ": parameters must be a Float64Array of " << expected << " numbers";
    throw JsError{m.str()};
  }
  const double *p = static_cast<const double *>(data);
  return std::vector<double>(p, p + length);
}

memory::dim dim(double v, const char *fn) {
  if (!(v >= 0) || v != double(int64_t(v))) {
    throw JsError{std::string("dnnl_kernels.") + fn + ": a dimension is not a whole number ≥ 0"};
  }
  return memory::dim(v);
}

std::string keyOf(const char *kind, const std::vector<double> &p, size_t n) {
  std::ostringstream k;
  k << kind << ':' << omp_get_max_threads();
  for (size_t i = 0; i < n; i++) k << ',' << p[i];
  return k.str();
}

template <typename F>
napi_value guarded(napi_env env, F &&f) {
  try {
    return f();
  } catch (const JsError &e) {
    napi_throw_error(env, nullptr, e.message.c_str());
  } catch (const dnnl::error &e) {
    std::string m = std::string("oneDNN: ") + e.what();
    napi_throw_error(env, nullptr, m.c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---------------------------------------------------------------------------------------------
// Convolutions.
//
// Parameters (Float64Array, 21): N H W C  KH KW O  OH OW  strideH strideW dilationH dilationW
// padTop padLeft padBottom padRight, then byte offsets: for "forward" x w y bias (bias < 0: none);
// "backwardData" dy w dx -; "backwardFilter" x dy dw -.

enum class ConvKind { Forward, BackwardData, BackwardFilter };
constexpr size_t CONV_DIMS = 17;
constexpr size_t CONV_PARAMS = CONV_DIMS + 4;

struct ConvShape {
  memory::dim N, H, W, C, KH, KW, O, OH, OW, sh, sw, dh, dw, pt, pl, pb, pr;
};

ConvShape convShape(const std::vector<double> &p, const char *fn) {
  memory::dim d[CONV_DIMS];
  for (size_t i = 0; i < CONV_DIMS; i++) d[i] = dim(p[i], fn);
  ConvShape s{d[0], d[1], d[2],  d[3],  d[4],  d[5],  d[6],  d[7], d[8],
              d[9], d[10], d[11], d[12], d[13], d[14], d[15], d[16]};
  if (s.sh < 1 || s.sw < 1 || s.dh < 1 || s.dw < 1) {
    throw JsError{std::string("dnnl_kernels.") + fn + ": strides and dilations must be ≥ 1"};
  }
  return s;
}

struct ConvOp : Op {
  dnnl::primitive prim;
  memory::desc x, w, y, b;  // the tensors as tfjs holds them: NHWC activations, HWIO filter
  memory::desc pw;          // the filter (or its gradient) as the primitive wants it
  bool reorderW = false;
  dnnl::reorder reorder;  // HWIO -> pw (forward, backward data) or pw -> HWIO (backward filter)
  memory wTmp;
  std::string impl;
};

ConvOp *convOp(ConvKind kind, const std::vector<double> &p, bool bias) {
  static const char *names[] = {"convForward", "convBackwardData", "convBackwardFilter"};
  const char *fn = names[int(kind)];
  ThreadState &ts = state();
  std::string key = keyOf(fn, p, CONV_DIMS) + (bias ? "b" : "");
  auto it = ts.cache.find(key);
  if (it != ts.cache.end()) return static_cast<ConvOp *>(it->second.get());

  ConvShape s = convShape(p, fn);
  auto op = std::make_unique<ConvOp>();
  op->x = memory::desc({s.N, s.C, s.H, s.W}, dt::f32, tag::nhwc);
  op->w = memory::desc({s.O, s.C, s.KH, s.KW}, dt::f32, tag::hwio);
  op->y = memory::desc({s.N, s.O, s.OH, s.OW}, dt::f32, tag::nhwc);
  op->b = memory::desc({s.O}, dt::f32, tag::x);
  memory::desc wAny({s.O, s.C, s.KH, s.KW}, dt::f32, tag::any);
  memory::dims strides{s.sh, s.sw}, dil{s.dh - 1, s.dw - 1}, padL{s.pt, s.pl}, padR{s.pb, s.pr};
  auto alg = dnnl::algorithm::convolution_direct;
  auto train = dnnl::prop_kind::forward_training;
  dnnl::convolution_forward::desc fd =
      bias ? dnnl::convolution_forward::desc(train, alg, op->x, wAny, op->b, op->y, strides, dil, padL, padR)
           : dnnl::convolution_forward::desc(train, alg, op->x, wAny, op->y, strides, dil, padL, padR);
  dnnl::convolution_forward::primitive_desc fpd(fd, ts.eng);
  if (kind == ConvKind::Forward) {
    op->pw = fpd.weights_desc();
    op->prim = dnnl::convolution_forward(fpd);
    op->impl = fpd.impl_info_str();
  } else if (kind == ConvKind::BackwardData) {
    dnnl::convolution_backward_data::desc bd(alg, op->x, wAny, op->y, strides, dil, padL, padR);
    dnnl::convolution_backward_data::primitive_desc bpd(bd, ts.eng, fpd);
    op->pw = bpd.weights_desc();
    op->prim = dnnl::convolution_backward_data(bpd);
    op->impl = bpd.impl_info_str();
  } else {
    dnnl::convolution_backward_weights::desc bd(alg, op->x, wAny, op->y, strides, dil, padL, padR);
    dnnl::convolution_backward_weights::primitive_desc bpd(bd, ts.eng, fpd);
    op->pw = bpd.diff_weights_desc();
    op->prim = dnnl::convolution_backward_weights(bpd);
    op->impl = bpd.impl_info_str();
  }
  op->reorderW = op->pw != op->w;
  if (op->reorderW) {
    op->wTmp = memory(op->pw, ts.eng);
    bool out = kind == ConvKind::BackwardFilter;
    const memory::desc &from = out ? op->pw : op->w, &to = out ? op->w : op->pw;
    op->reorder = dnnl::reorder(dnnl::reorder::primitive_desc(ts.eng, from, ts.eng, to));
  }
  ConvOp *raw = op.get();
  ts.cache.emplace(key, std::move(op));
  return raw;
}

void runConv(ConvKind kind, const Heap &heap, const std::vector<double> &p) {
  static const char *names[] = {"convForward", "convBackwardData", "convBackwardFilter"};
  const char *fn = names[int(kind)];
  bool bias = kind == ConvKind::Forward && p[CONV_DIMS + 3] >= 0;
  ConvOp *op = convOp(kind, p, bias);
  ConvShape s = convShape(p, fn);
  double nx = double(s.N * s.H * s.W * s.C), nw = double(s.KH * s.KW * s.C * s.O), ny = double(s.N * s.OH * s.OW * s.O);
  ThreadState &ts = state();
  const double *o = p.data() + CONV_DIMS;
  if (kind == ConvKind::Forward) {
    memory x(op->x, ts.eng, heap.at(o[0], nx, "x"));
    memory w(op->w, ts.eng, heap.at(o[1], nw, "filter"));
    memory y(op->y, ts.eng, heap.at(o[2], ny, "y"));
    if (op->reorderW) op->reorder.execute(ts.strm, w, op->wTmp);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, op->reorderW ? op->wTmp : w}};
    args.emplace(DNNL_ARG_DST, y);
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(op->b, ts.eng, heap.at(o[3], double(s.O), "bias")));
    op->prim.execute(ts.strm, args);
  } else if (kind == ConvKind::BackwardData) {
    memory dy(op->y, ts.eng, heap.at(o[0], ny, "dy"));
    memory w(op->w, ts.eng, heap.at(o[1], nw, "filter"));
    memory dx(op->x, ts.eng, heap.at(o[2], nx, "dx"));
    if (op->reorderW) op->reorder.execute(ts.strm, w, op->wTmp);
    memory &wp = op->reorderW ? op->wTmp : w;
    op->prim.execute(ts.strm, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DIFF_SRC, dx}});
  } else {
    memory x(op->x, ts.eng, heap.at(o[0], nx, "x"));
    memory dy(op->y, ts.eng, heap.at(o[1], ny, "dy"));
    memory dw(op->w, ts.eng, heap.at(o[2], nw, "dw"));
    memory &dwp = op->reorderW ? op->wTmp : dw;
    op->prim.execute(ts.strm, {{DNNL_ARG_SRC, x}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, dwp}});
    if (op->reorderW) op->reorder.execute(ts.strm, op->wTmp, dw);
  }
  ts.strm.wait();
}

napi_value convCall(napi_env env, napi_callback_info info, ConvKind kind) {
  static const char *names[] = {"convForward", "convBackwardData", "convBackwardFilter"};
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{std::string("dnnl_kernels.") + names[int(kind)] + "(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    runConv(kind, heap, getParams(env, a.argv[1], CONV_PARAMS, names[int(kind)]));
    return undefinedValue(env);
  });
}

napi_value ConvForward(napi_env env, napi_callback_info info) {
  return convCall(env, info, ConvKind::Forward);
}
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  return convCall(env, info, ConvKind::BackwardData);
}
napi_value ConvBackwardFilter(napi_env env, napi_callback_info info) {
  return convCall(env, info, ConvKind::BackwardFilter);
}

// ---------------------------------------------------------------------------------------------
// Matrix products: C[g] = op(A[g]) · op(B[g]) (+ bias), row-major, g over the batch; a batch of 1 on
// one side is shared by every item of the other.
//
// Parameters (Float64Array, 11): batchA batchB M N K transposeA transposeB, then byte offsets
// a b c bias (bias < 0: none; else N floats added to every row).

constexpr size_t MM_DIMS = 7;
constexpr size_t MM_PARAMS = MM_DIMS + 4;

struct MatMulOp : Op {
  dnnl::primitive prim;
  memory::desc a, b, c, bias;
  std::string impl;
};

MatMulOp *matMulOp(const std::vector<double> &p, bool withBias) {
  const char *fn = "matMul";
  ThreadState &ts = state();
  std::string key = keyOf(fn, p, MM_DIMS) + (withBias ? "b" : "");
  auto it = ts.cache.find(key);
  if (it != ts.cache.end()) return static_cast<MatMulOp *>(it->second.get());
  memory::dim ga = dim(p[0], fn), gb = dim(p[1], fn), M = dim(p[2], fn), N = dim(p[3], fn), K = dim(p[4], fn);
  bool ta = p[5] != 0, tb = p[6] != 0;
  if (ga != gb && ga != 1 && gb != 1) throw JsError{"dnnl_kernels.matMul: batch sizes must be equal or one of them 1"};
  memory::dim G = ga > gb ? ga : gb;
  auto op = std::make_unique<MatMulOp>();
  // strides express the transposes: op(A) is M×K, stored K×M when transposed
  op->a = memory::desc({ga, M, K}, dt::f32, ta ? memory::dims{M * K, 1, M} : memory::dims{M * K, K, 1});
  op->b = memory::desc({gb, K, N}, dt::f32, tb ? memory::dims{K * N, 1, K} : memory::dims{K * N, N, 1});
  op->c = memory::desc({G, M, N}, dt::f32, memory::dims{M * N, N, 1});
  op->bias = memory::desc({1, 1, N}, dt::f32, memory::dims{N, N, 1});
  dnnl::matmul::desc d = withBias ? dnnl::matmul::desc(op->a, op->b, op->bias, op->c)  //
                                  : dnnl::matmul::desc(op->a, op->b, op->c);
  dnnl::matmul::primitive_desc pd(d, ts.eng);
  op->prim = dnnl::matmul(pd);
  op->impl = pd.impl_info_str();
  MatMulOp *raw = op.get();
  ts.cache.emplace(key, std::move(op));
  return raw;
}

napi_value MatMul(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.matMul(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], MM_PARAMS, "matMul");
    bool withBias = p[MM_DIMS + 3] >= 0;
    MatMulOp *op = matMulOp(p, withBias);
    double ga = p[0], gb = p[1], M = p[2], N = p[3], K = p[4];
    double G = ga > gb ? ga : gb;
    ThreadState &ts = state();
    const double *o = p.data() + MM_DIMS;
    memory A(op->a, ts.eng, heap.at(o[0], ga * M * K, "a")), B(op->b, ts.eng, heap.at(o[1], gb * K * N, "b")),
        C(op->c, ts.eng, heap.at(o[2], G * M * N, "c"));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, A}, {DNNL_ARG_WEIGHTS, B}, {DNNL_ARG_DST, C}};
    if (withBias) args.emplace(DNNL_ARG_BIAS, memory(op->bias, ts.eng, heap.at(o[3], N, "bias")));
    op->prim.execute(ts.strm, args);
    ts.strm.wait();
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// Memory-bound kernels the wasm backend spends the rest of a training step in, written here as plain
// loops compiled for the CPU's vector unit (function clones picked at run time): GroupNorm (+ SiLU)
// and its gradient, and sums over leading axes (bias gradients). They follow the arithmetic of the
// project's wasm kernels (lib/kernels/groupnorm.ts, reduce.ts): float32 element math, float64 sums.
// Work is split over samples or columns only, so the bytes do not depend on the thread count.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

// e^x in float32 (Cephes expf, Moshier 1989, as lib/kernels/simd/groupnorm.wat): n = round(x·log2 e),
// r = x − n·ln2 in two parts, e^r by a degree-7 polynomial, times 2^n as two powers of two built in the
// exponent bits (so that overflow gives infinity and underflow 0 or a subnormal, like expf).
static inline float pow2i(int32_t n) {
  int32_t bits = (n + 127) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static inline float expf32(float x) {
  x = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x;
  float fx = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  int32_t n = int32_t(fx), half = n >> 1;
  return y * pow2i(half) * pow2i(n - half);
}

// Pointers that alias nothing else in a loop (so that it vectorizes).
using floats = float *__restrict;
using cfloats = const float *__restrict;
using doubles = double *__restrict;

// sum[c] = Σ_p x[p, c], sq[c] = Σ_p x[p, c]², float64, in pixel order
VECTOR_CLONES static void channelStats(cfloats x, int64_t HW, int64_t C, doubles sum, doubles sq) {
  for (int64_t c = 0; c < C; c++) sum[c] = sq[c] = 0;
  for (int64_t p = 0; p < HW; p++) {
    const float *__restrict row = x + p * C;
    for (int64_t c = 0; c < C; c++) {
      double v = row[c];
      sum[c] += v;
      sq[c] += v * v;
    }
  }
}

// y = g·((x − m)·r) + b per channel, then z·sigmoid(z) with SiLU
VECTOR_CLONES static void normalize(cfloats x, floats y, int64_t HW, int64_t C, cfloats m, cfloats r, cfloats g,
                                    cfloats b, bool silu) {
  for (int64_t p = 0; p < HW; p++) {
    const float *__restrict xr = x + p * C;
    float *__restrict yr = y + p * C;
    if (silu) {
      for (int64_t c = 0; c < C; c++) {
        float z = g[c] * ((xr[c] - m[c]) * r[c]) + b[c];
        yr[c] = z * (1.0f / (1.0f + expf32(-z)));
      }
    } else {
      for (int64_t c = 0; c < C; c++) yr[c] = g[c] * ((xr[c] - m[c]) * r[c]) + b[c];
    }
  }
}

// Backward, first pass: dz (through SiLU), d = dz·g into `d`; per channel dγ += dz·x̂, dβ += dz,
// s1 += d, s2 += d·x̂ (float64)
VECTOR_CLONES static void gradPass1(cfloats dy, cfloats x, floats d, int64_t HW, int64_t C, cfloats m, cfloats r,
                                    cfloats g, cfloats b, bool silu, doubles dg, doubles db, doubles s1, doubles s2) {
  for (int64_t c = 0; c < C; c++) dg[c] = db[c] = s1[c] = s2[c] = 0;
  for (int64_t p = 0; p < HW; p++) {
    const float *__restrict dyr = dy + p * C, *xr = x + p * C;
    float *__restrict dr = d + p * C;
    // dz first (two loops, so that each vectorizes), then the sums
    if (silu) {
      for (int64_t c = 0; c < C; c++) {
        float z = g[c] * ((xr[c] - m[c]) * r[c]) + b[c];
        float sg = 1.0f / (1.0f + expf32(-z));
        dr[c] = dyr[c] * (sg * (1.0f + z * (1.0f - sg)));
      }
    } else {
      for (int64_t c = 0; c < C; c++) dr[c] = dyr[c];
    }
    for (int64_t c = 0; c < C; c++) {
      float xh = (xr[c] - m[c]) * r[c];
      float dz = dr[c];
      float dd = dz * g[c];
      dr[c] = dd;
      dg[c] += double(dz) * double(xh);
      db[c] += double(dz);
      s1[c] += double(dd);
      s2[c] += double(dd) * double(xh);
    }
  }
}

// Backward, second pass: dx = r·(d − m1 − x̂·m2), in place over d
VECTOR_CLONES static void gradPass2(floats d, cfloats x, int64_t HW, int64_t C, cfloats m, cfloats r, cfloats m1,
                                    cfloats m2) {
  for (int64_t p = 0; p < HW; p++) {
    float *__restrict dr = d + p * C;
    const float *__restrict xr = x + p * C;
    for (int64_t c = 0; c < C; c++) dr[c] = r[c] * (dr[c] - m1[c] - ((xr[c] - m[c]) * r[c]) * m2[c]);
  }
}

// Parameters (Float64Array, 12): B HW C G eps silu, then byte offsets x gamma beta y mean rstd.
constexpr size_t GN_PARAMS = 12;

napi_value GroupNormForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.groupNorm(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], GN_PARAMS, "groupNorm");
    const char *fn = "groupNorm";
    int64_t B = dim(p[0], fn), HW = dim(p[1], fn), C = dim(p[2], fn), G = dim(p[3], fn);
    if (G < 1 || C % G != 0) throw JsError{"dnnl_kernels.groupNorm: channels must divide into the groups"};
    double eps = p[4];
    bool silu = p[5] != 0;
    double n = double(B * HW * C);
    const float *x = heap.at(p[6], n, "x"), *gamma = heap.at(p[7], double(C), "gamma");
    const float *beta = heap.at(p[8], double(C), "beta");
    float *y = heap.at(p[9], n, "y"), *mean = heap.at(p[10], double(B * G), "mean");
    float *rstd = heap.at(p[11], double(B * G), "rstd");
    int64_t Cg = C / G;
#pragma omp parallel
    {
      std::vector<double> sum(C), sq(C);
      std::vector<float> m(C), r(C);
#pragma omp for schedule(static)
      for (int64_t s = 0; s < B; s++) {
        const float *xs = x + s * HW * C;
        channelStats(xs, HW, C, sum.data(), sq.data());
        for (int64_t g = 0; g < G; g++) {
          double t1 = 0, t2 = 0;
          for (int64_t k = g * Cg; k < (g + 1) * Cg; k++) t1 += sum[k], t2 += sq[k];
          double mu = t1 / double(HW * Cg), m2 = t2 / double(HW * Cg);
          double var = m2 - mu * mu;
          mean[s * G + g] = float(mu);
          rstd[s * G + g] = float(1.0 / std::sqrt((var > 0 ? var : 0) + eps));
          for (int64_t k = g * Cg; k < (g + 1) * Cg; k++) m[k] = mean[s * G + g], r[k] = rstd[s * G + g];
        }
        normalize(xs, y + s * HW * C, HW, C, m.data(), r.data(), gamma, beta, silu);
      }
    }
    return undefinedValue(env);
  });
}

// Parameters (Float64Array, 14): B HW C G silu, then byte offsets dy x gamma beta mean rstd dx dgamma dbeta.
constexpr size_t GN_GRAD_PARAMS = 14;

napi_value GroupNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.groupNormGrad(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], GN_GRAD_PARAMS, "groupNormGrad");
    const char *fn = "groupNormGrad";
    int64_t B = dim(p[0], fn), HW = dim(p[1], fn), C = dim(p[2], fn), G = dim(p[3], fn);
    if (G < 1 || C % G != 0) throw JsError{"dnnl_kernels.groupNormGrad: channels must divide into the groups"};
    bool silu = p[4] != 0;
    double n = double(B * HW * C);
    const float *dy = heap.at(p[5], n, "dy"), *x = heap.at(p[6], n, "x");
    const float *gamma = heap.at(p[7], double(C), "gamma"), *beta = heap.at(p[8], double(C), "beta");
    const float *mean = heap.at(p[9], double(B * G), "mean"), *rstd = heap.at(p[10], double(B * G), "rstd");
    float *dx = heap.at(p[11], n, "dx");
    float *dgamma = heap.at(p[12], double(C), "dgamma"), *dbeta = heap.at(p[13], double(C), "dbeta");
    int64_t Cg = C / G;
    // per-sample partial sums of dγ and dβ, added up in sample order below
    std::vector<double> dgs(size_t(B * C)), dbs(size_t(B * C));
#pragma omp parallel
    {
      std::vector<double> s1(C), s2(C);
      std::vector<float> m(C), r(C), m1(C), m2(C);
#pragma omp for schedule(static)
      for (int64_t s = 0; s < B; s++) {
        for (int64_t k = 0; k < C; k++) m[k] = mean[s * G + k / Cg], r[k] = rstd[s * G + k / Cg];
        const float *dys = dy + s * HW * C, *xs = x + s * HW * C;
        float *dxs = dx + s * HW * C;
        gradPass1(dys, xs, dxs, HW, C, m.data(), r.data(), gamma, beta, silu, &dgs[s * C], &dbs[s * C], s1.data(),
                  s2.data());
        for (int64_t g = 0; g < G; g++) {
          double t1 = 0, t2 = 0;
          for (int64_t k = g * Cg; k < (g + 1) * Cg; k++) t1 += s1[k], t2 += s2[k];
          for (int64_t k = g * Cg; k < (g + 1) * Cg; k++) {
            m1[k] = float(t1 / double(HW * Cg));
            m2[k] = float(t2 / double(HW * Cg));
          }
        }
        gradPass2(dxs, xs, HW, C, m.data(), r.data(), m1.data(), m2.data());
      }
    }
    for (int64_t c = 0; c < C; c++) {
      double tg = 0, tb = 0;
      for (int64_t s = 0; s < B; s++) tg += dgs[s * C + c], tb += dbs[s * C + c];
      dgamma[c] = float(tg);
      dbeta[c] = float(tb);
    }
    return undefinedValue(env);
  });
}

// out[c] = Σ_r x[r, c] in float64 in row order (lib/kernels/reduce.ts's sumRows: the same bytes),
// columns split over the threads in blocks of 64.
VECTOR_CLONES static void colSumBlock(cfloats x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, doubles acc) {
  for (int64_t c = c0; c < c1; c++) acc[c - c0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float *__restrict row = x + r * cols;
    for (int64_t c = c0; c < c1; c++) acc[c - c0] += double(row[c]);
  }
}

// Parameters (Float64Array, 4): rows cols, then byte offsets x out.
napi_value ColSum(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.colSum(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], 4, "colSum");
    int64_t rows = dim(p[0], "colSum"), cols = dim(p[1], "colSum");
    const float *x = heap.at(p[2], double(rows) * double(cols), "x");
    float *out = heap.at(p[3], double(cols), "out");
    constexpr int64_t BLOCK = 64;
    int64_t blocks = (cols + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
    for (int64_t k = 0; k < blocks; k++) {
      double acc[BLOCK];
      int64_t c0 = k * BLOCK, c1 = c0 + BLOCK < cols ? c0 + BLOCK : cols;
      colSumBlock(x, rows, cols, c0, c1, acc);
      for (int64_t c = c0; c < c1; c++) out[c] = float(acc[c - c0]);
    }
    return undefinedValue(env);
  });
}

// Elementwise e^x and erf(x), which tfjs-wasm computes one scalar libm call at a time. erf by
// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), the formula and constants of tfjs's cpu backend.
VECTOR_CLONES static void expBlock(cfloats x, floats y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = expf32(x[i]);
}

VECTOR_CLONES static void erfBlock(cfloats x, floats y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i] < 0 ? -x[i] : x[i];
    float t = 1.0f / (1.0f + 0.3275911f * v);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float e = 1.0f - poly * expf32(-v * v);
    y[i] = x[i] < 0 ? -e : x[i] > 0 ? e : 0.0f;
  }
}

// Parameters (Float64Array, 4): op (0 exp, 1 erf) n, then byte offsets x y.
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.unary(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], 4, "unary");
    int op = int(p[0]);
    if (op != 0 && op != 1) throw JsError{"dnnl_kernels.unary: op must be 0 (exp) or 1 (erf)"};
    int64_t n = dim(p[1], "unary");
    const float *x = heap.at(p[2], double(n), "x");
    float *y = heap.at(p[3], double(n), "y");
    constexpr int64_t BLOCK = 1 << 14;
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t k = 0; k < blocks; k++) {
      int64_t i0 = k * BLOCK, len = i0 + BLOCK < n ? BLOCK : n - i0;
      if (op == 0) expBlock(x + i0, y + i0, len);
      else erfBlock(x + i0, y + i0, len);
    }
    return undefinedValue(env);
  });
}

// ---------------------------------------------------------------------------------------------
// The machine's ceiling: C = A·B by oneDNN's sgemm (row-major, n×n), `reps` times, on the heap.
// Parameters (Float64Array, 5): n reps, byte offsets a b c. Returns the fastest repetition's seconds.

napi_value Sgemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    if (a.argc < 2) throw JsError{"dnnl_kernels.sgemm(heap, params) takes 2 arguments"};
    Heap heap = getHeap(env, a.argv[0]);
    std::vector<double> p = getParams(env, a.argv[1], 5, "sgemm");
    memory::dim n = dim(p[0], "sgemm"), reps = dim(p[1], "sgemm");
    double nn = double(n) * double(n);
    float *A = heap.at(p[2], nn, "a"), *B = heap.at(p[3], nn, "b"), *C = heap.at(p[4], nn, "c");
    double best = 1e300;
    for (memory::dim r = 0; r < reps; r++) {
      double t0 = omp_get_wtime();
      dnnl::sgemm('N', 'N', n, n, n, 1.f, A, n, B, n, 0.f, C, n);
      double t = omp_get_wtime() - t0;
      if (t < best) best = t;
    }
    napi_value out;
    check(env, napi_create_double(env, best, &out), "napi_create_double");
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Threads and introspection.

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    int32_t n = 0;
    if (a.argc < 1 || napi_get_value_int32(env, a.argv[0], &n) != napi_ok || n < 1) {
      throw JsError{"dnnl_kernels.setThreads(n): n must be an integer ≥ 1"};
    }
    // exactly n: a team the runtime shrank under load would partition the reductions differently
    omp_set_dynamic(0);
    omp_set_num_threads(n);
    return undefinedValue(env);
  });
}

napi_value GetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value out;
    check(env, napi_create_int32(env, omp_get_max_threads(), &out), "napi_create_int32");
    return out;
  });
}

const char *isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    default: return "other";
  }
}

napi_value Info(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    const dnnl_version_t *v = dnnl::version();
    std::ostringstream s;
    s << v->major << '.' << v->minor << '.' << v->patch;
    napi_value out, version, isa, runtime, procs;
    check(env, napi_create_object(env, &out), "napi_create_object");
    std::string vs = s.str();
    check(env, napi_create_string_utf8(env, vs.c_str(), vs.size(), &version), "napi_create_string_utf8");
    const char *isaStr = isaName(dnnl::get_effective_cpu_isa());
    check(env, napi_create_string_utf8(env, isaStr, NAPI_AUTO_LENGTH, &isa), "napi_create_string_utf8");
    check(env, napi_create_string_utf8(env, "openmp", NAPI_AUTO_LENGTH, &runtime), "napi_create_string_utf8");
    check(env, napi_create_int32(env, omp_get_num_procs(), &procs), "napi_create_int32");
    napi_set_named_property(env, out, "version", version);
    napi_set_named_property(env, out, "isa", isa);
    napi_set_named_property(env, out, "runtime", runtime);
    napi_set_named_property(env, out, "processors", procs);
    return out;
  });
}

// implementation(kind, params): the name of the oneDNN implementation a call with these
// parameters runs ("forward" | "backwardData" | "backwardFilter" | "matMul"), for tests and the bench.
napi_value Implementation(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args a = getArgs(env, info);
    char kind[32] = {0};
    size_t len = 0;
    if (a.argc < 2 || napi_get_value_string_utf8(env, a.argv[0], kind, sizeof kind, &len) != napi_ok) {
      throw JsError{"dnnl_kernels.implementation(kind, params)"};
    }
    std::string k(kind), impl;
    if (k == "matMul") {
      std::vector<double> p = getParams(env, a.argv[1], MM_PARAMS, "implementation");
      impl = matMulOp(p, p[MM_DIMS + 3] >= 0)->impl;
    } else {
      if (k != "forward" && k != "backwardData" && k != "backwardFilter") {
        throw JsError{"dnnl_kernels.implementation: unknown kind " + k};
      }
      ConvKind ck = k == "forward"        ? ConvKind::Forward
                    : k == "backwardData" ? ConvKind::BackwardData
                                          : ConvKind::BackwardFilter;
      std::vector<double> p = getParams(env, a.argv[1], CONV_PARAMS, "implementation");
      impl = convOp(ck, p, ck == ConvKind::Forward && p[CONV_DIMS + 3] >= 0)->impl;
    }
    napi_value out;
    check(env, napi_create_string_utf8(env, impl.c_str(), impl.size(), &out), "napi_create_string_utf8");
    return out;
  });
}

// Drops this thread's cached primitives (their scratch buffers with them).
napi_value ClearCache(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    state().cache.clear();
    return undefinedValue(env);
  });
}

napi_value CacheSize(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    napi_value out;
    check(env, napi_create_int32(env, int32_t(state().cache.size()), &out), "napi_create_int32");
    return out;
  });
}

// methods as plain writable properties (profilers and tests may wrap them)
constexpr napi_property_attributes kMethod =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"convForward", nullptr, ConvForward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"convBackwardData", nullptr, ConvBackwardData, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"convBackwardFilter", nullptr, ConvBackwardFilter, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"matMul", nullptr, MatMul, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"groupNorm", nullptr, GroupNormForward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"groupNormGrad", nullptr, GroupNormBackward, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"colSum", nullptr, ColSum, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"getThreads", nullptr, GetThreads, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"implementation", nullptr, Implementation, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"clearCache", nullptr, ClearCache, nullptr, nullptr, nullptr, kMethod, nullptr},
      {"cacheSize", nullptr, CacheSize, nullptr, nullptr, nullptr, kMethod, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
