// INT8 depthwise convolution (see qdepthwise_launch.h). Channels-last: one thread per output
// pixel and vector of V int8 channels (V = 16: one 16-byte load per tap, __dp4a over groups of
// 4 taps; 4: one 4-byte load; 1 for channel counts that are no multiple of 4), so a warp reads contiguous memory and L1
// catches the overlap of neighbouring outputs' windows. Taps over padding add nothing (the
// zero point is 0). The float-output epilogue (fp32, fp16) uses __fmul_rn/__fadd_rn so that
// nvcc's FMA contraction cannot move a value across a rounding boundary the reference does not
// cross; int8 output takes the folded epilogue (storeFolded, QDepthwiseEpilogue: one FFMA and a clamp
// a value, within one step; with a hard swish, its few operations and one FFMA by 1 / y_scale, or
// by the affine after it divided by y_scale).
#include "backends/cuda/conv_epilogue.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/qdepthwise_launch.h"

namespace qrt::cuda::launch {

namespace {

// Sign-extends byte j of a 32-bit word.
__device__ __forceinline__ int sbyte(unsigned word, int j) { return static_cast<int>(word << (24 - 8 * j)) >> 24; }

template <int V>
__device__ __forceinline__ void loadInt8(const int8_t* p, int* out) {
  if constexpr (V == 16) {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
    const unsigned words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
      for (int j = 0; j < 4; ++j) out[q * 4 + j] = sbyte(words[q], j);
  } else if constexpr (V == 4) {
    const unsigned u = __ldg(reinterpret_cast<const unsigned*>(p));
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = sbyte(u, j);
  } else {
    out[0] = __ldg(p);
  }
}

template <int V>
__device__ __forceinline__ void loadFloats(const float* p, float* out) {
  if constexpr (V % 4 == 0) {
#pragma unroll
    for (int q = 0; q < V / 4; ++q) {
      const float4 f = __ldg(reinterpret_cast<const float4*>(p) + q);
      out[q * 4] = f.x;
      out[q * 4 + 1] = f.y;
      out[q * 4 + 2] = f.z;
      out[q * 4 + 3] = f.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) out[j] = __ldg(p + j);
  }
}

// QConv's epilogue for one accumulator (reference/qops_common.h FusedEpilogue::apply).
__device__ __forceinline__ float epilogue(int acc, float mult, float bias, const QDepthwiseEpilogue& e) {
  float v = __fadd_rn(__fmul_rn(static_cast<float>(acc), mult), bias);
  if (e.act == QAct::kRelu) v = v < 0.f ? 0.f : v;
  else if (e.act == QAct::kClip) v = v < e.lo ? e.lo : (v > e.hi ? e.hi : v);
  else if (e.act == QAct::kHardSwish) v = hardSwish(v);
  return v;
}

// What y holds: fp32, int8 (quantized by y_scale: storeFolded) or fp16 (the fp32 value rounded
// once, as the reference's fp16 output; a QConv feeding fp16 layers in an --int8 --fp16 engine).
enum class YKind { kFloat, kInt8, kHalf };

// The float outputs (kFloat, kHalf) of the epilogue above.
template <int V, YKind kY>
__device__ __forceinline__ void store(void* y, unsigned o, const float* v) {
  static_assert(kY != YKind::kInt8, "int8 y takes storeFolded");
  if constexpr (kY == YKind::kHalf) {
    __half* p = static_cast<__half*>(y) + o;
    if constexpr (V % 4 == 0) {  // 4 values an 8-byte store (o is a multiple of V: aligned)
#pragma unroll
      for (int q = 0; q < V / 4; ++q) {
        const __half2 a = __floats2half2_rn(v[q * 4], v[q * 4 + 1]), b = __floats2half2_rn(v[q * 4 + 2], v[q * 4 + 3]);
        reinterpret_cast<uint2*>(p)[q] =
            make_uint2(*reinterpret_cast<const unsigned*>(&a), *reinterpret_cast<const unsigned*>(&b));
      }
    } else {
      p[0] = __float2half_rn(v[0]);
    }
  } else {
    float* p = static_cast<float*>(y) + o;
    if constexpr (V % 4 == 0) {
#pragma unroll
      for (int q = 0; q < V / 4; ++q)
        reinterpret_cast<float4*>(p)[q] = make_float4(v[q * 4], v[q * 4 + 1], v[q * 4 + 2], v[q * 4 + 3]);
    } else {
      p[0] = v[0];
    }
  }
}

// The int8 epilogue (QDepthwiseEpilogue: folded constants) for V accumulators of channels c..c+V-1
// at y: one FFMA and one clamp a value, rounded half to even by adding 1.5 * 2^23 (the float's low
// byte is then the int8), four bytes gathered by three byte permutes, one store.
template <int V>
__device__ __forceinline__ void storeFolded(int8_t* y, const int* acc, unsigned c, const QDepthwiseEpilogue& e) {
  float m[V], b[V];
  loadFloats<V>(e.mult + c, m);
  loadFloats<V>(e.bias + c, b);
  const bool hs = e.act == QAct::kHardSwish;
  // The value to clamp: y_scale already folded into m and b, or the hard swish of the unscaled value, scaled.
  auto value = [&](int k) {
    const float v = fmaf(static_cast<float>(acc[k]), m[k], b[k]);
    return hs ? fmaf(v * fmaxf(0.f, fminf(1.f, fmaf(v, 1.f / 6.f, 0.5f))), e.post_mul, e.post_add) : v;
  };
  if constexpr (V == 1) {
    y[0] = static_cast<int8_t>(__float2int_rn(fminf(fmaxf(value(0), e.qlo), e.qhi)));
  } else {
    constexpr float kMagic = 12582912.f;
    unsigned words[V / 4];
#pragma unroll
    for (int q = 0; q < V / 4; ++q) {
      unsigned f[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        f[j] = __float_as_uint(fminf(fmaxf(value(q * 4 + j), e.qlo), e.qhi) + kMagic);
      }
      words[q] = __byte_perm(__byte_perm(f[0], f[1], 0x0040), __byte_perm(f[2], f[3], 0x0040), 0x5410);
    }
    if constexpr (V == 16) *reinterpret_cast<uint4*>(y) = make_uint4(words[0], words[1], words[2], words[3]);
    else *reinterpret_cast<unsigned*>(y) = words[0];
  }
}

// Both kernels' epilogue for V accumulators of channels c..c+V-1 of thread item i (NHWC output
// index i * V): int8 y folded (storeFolded), float y as the reference computes it.
template <int V, YKind kY>
__device__ __forceinline__ void finish(void* y, unsigned i, const int* acc, unsigned c, const QDepthwiseEpilogue& e) {
  if constexpr (kY == YKind::kInt8) {
    storeFolded<V>(static_cast<int8_t*>(y) + i * V, acc, c, e);
  } else {
    float mult[V], bias[V], v[V];
    loadFloats<V>(e.mult + c, mult);
    loadFloats<V>(e.bias + c, bias);
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = epilogue(acc[j], mult[j], bias[j], e);
    store<V, kY>(y, i * V, v);
  }
}

// K > 0: a kh = kw = K kernel known at compile time (unrolled taps); 0: the geometry's.
template <int V, int K, YKind kY>
__global__ void __launch_bounds__(kBlock) qdepthwiseNhwc(const int8_t* __restrict__ x, const int8_t* __restrict__ w,
                                                         void* __restrict__ y, DepthwiseGeometry g, QDepthwiseEpilogue e) {
  const int kh = K > 0 ? K : g.kh, kw = K > 0 ? K : g.kw;
  const unsigned cv = static_cast<unsigned>(g.c / V);
  const unsigned total = static_cast<unsigned>(g.n) * g.oh * g.ow * cv;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcVecIndex at = nhwcVecIndex<V>(i, cv, g.ow, g.oh);
    const unsigned c = at.c, n = at.n;
    const int ox = at.ox, oy = at.oy;
    int acc[V];
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = 0;
    const int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
    const int8_t* xn = x + static_cast<size_t>(n) * g.h * g.w * g.c + c;
#pragma unroll
    for (int r = 0; r < kh; ++r) {
      const int iy = iy0 + r * g.dh;
      if (iy < 0 || iy >= g.h) continue;
#pragma unroll
      for (int s = 0; s < kw; ++s) {
        const int ix = ix0 + s * g.dw;
        if (ix < 0 || ix >= g.w) continue;
        int xv[V], wv[V];
        loadInt8<V>(xn + (static_cast<unsigned>(iy) * g.w + ix) * static_cast<unsigned>(g.c), xv);
        loadInt8<V>(w + static_cast<unsigned>(r * kw + s) * g.c + c, wv);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += xv[j] * wv[j];
      }
    }
    finish<V, kY>(y, i, acc, c, e);
  }
}

// 4x4 byte transpose: x_t holds channels 4q..4q+3 of tap t (byte j: channel 4q + j); y[j] gets
// channel 4q + j's bytes of the four taps (byte t: tap t), the operand __dp4a needs.
__device__ __forceinline__ void transpose4(unsigned x0, unsigned x1, unsigned x2, unsigned x3, unsigned* y) {
  const unsigned a = __byte_perm(x0, x1, 0x5140), b = __byte_perm(x2, x3, 0x5140);
  const unsigned c = __byte_perm(x0, x1, 0x7362), d = __byte_perm(x2, x3, 0x7362);
  y[0] = __byte_perm(a, b, 0x5410);
  y[1] = __byte_perm(a, b, 0x7632);
  y[2] = __byte_perm(c, d, 0x5410);
  y[3] = __byte_perm(c, d, 0x7632);
}

__device__ __forceinline__ unsigned word(const uint4& v, int q) { return q == 0 ? v.x : q == 1 ? v.y : q == 2 ? v.z : v.w; }

// 16 channels per thread with __dp4a over groups of 4 taps. The byte-per-channel loop above costs
// ~5 integer instructions per multiply-add (two sign extensions and an IMAD), and MobileNetV2's
// stride-1 depthwise layers ran at ~7x their memory floor with it on an H100 (0.44-0.52 ms at
// batch 256), which points at Hopper's integer pipe (half the FP32 rate); a transposed group
// costs 8 byte permutes + 4 dp4a per 16 multiply-adds. Its per-layer gain is not measured yet
// (bench/gpu/NOTES.md). wq is [ceil(taps / 4), C] words, byte j of word (g, c) = channel c's tap 4g + j
// (zero past the last tap); taps over padding load zeros.
template <int K, YKind kY>
__global__ void __launch_bounds__(kBlock) qdepthwiseDp4a(const int8_t* __restrict__ x, const int* __restrict__ wq,
                                                         void* __restrict__ y, DepthwiseGeometry g, QDepthwiseEpilogue e) {
  constexpr int V = 16;
  const int kh = K > 0 ? K : g.kh, kw = K > 0 ? K : g.kw;
  const int taps = kh * kw, groups = (taps + 3) / 4;
  const unsigned cv = static_cast<unsigned>(g.c / V);
  const unsigned total = static_cast<unsigned>(g.n) * g.oh * g.ow * cv;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcVecIndex at = nhwcVecIndex<V>(i, cv, g.ow, g.oh);
    const unsigned c = at.c, n = at.n;
    const int ox = at.ox, oy = at.oy;
    int acc[V];
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = 0;
    const int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
    const int8_t* xn = x + static_cast<size_t>(n) * g.h * g.w * g.c + c;
#pragma unroll
    for (int grp = 0; grp < groups; ++grp) {
      uint4 xv[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int t = grp * 4 + j;
        xv[j] = make_uint4(0u, 0u, 0u, 0u);
        if (t < taps) {
          const int r = t / kw, s = t - r * kw;
          const int iy = iy0 + r * g.dh, ix = ix0 + s * g.dw;
          if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
            xv[j] = __ldg(reinterpret_cast<const uint4*>(xn + (static_cast<unsigned>(iy) * g.w + ix) *
                                                                  static_cast<unsigned>(g.c)));
        }
      }
      const uint4* wp = reinterpret_cast<const uint4*>(wq + static_cast<unsigned>(grp) * g.c + c);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint4 wv = __ldg(wp + q);
        unsigned t4[4];
        transpose4(word(xv[0], q), word(xv[1], q), word(xv[2], q), word(xv[3], q), t4);
        acc[q * 4] = __dp4a(static_cast<int>(t4[0]), static_cast<int>(wv.x), acc[q * 4]);
        acc[q * 4 + 1] = __dp4a(static_cast<int>(t4[1]), static_cast<int>(wv.y), acc[q * 4 + 1]);
        acc[q * 4 + 2] = __dp4a(static_cast<int>(t4[2]), static_cast<int>(wv.z), acc[q * 4 + 2]);
        acc[q * 4 + 3] = __dp4a(static_cast<int>(t4[3]), static_cast<int>(wv.w), acc[q * 4 + 3]);
      }
    }
    finish<V, kY>(y, i, acc, c, e);
  }
}

template <int V, YKind kY>
void launchVec(const int8_t* x, const int8_t* w, void* y, const DepthwiseGeometry& g, const QDepthwiseEpilogue& e,
               cudaStream_t s) {
  const unsigned blocks = blocksFor(int64_t{g.n} * g.oh * g.ow * (g.c / V));
  const int k = g.kh == g.kw ? g.kh : 0;
  if (k == 3) qdepthwiseNhwc<V, 3, kY><<<blocks, kBlock, 0, s>>>(x, w, y, g, e);
  else if (k == 5) qdepthwiseNhwc<V, 5, kY><<<blocks, kBlock, 0, s>>>(x, w, y, g, e);
  else qdepthwiseNhwc<V, 0, kY><<<blocks, kBlock, 0, s>>>(x, w, y, g, e);
}

template <YKind kY>
void launchTyped(const int8_t* x, const int8_t* w, const int32_t* wq, void* y, const DepthwiseGeometry& g,
                 const QDepthwiseEpilogue& e, cudaStream_t s) {
  auto aligned = [](const void* p, uintptr_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; };
  const bool ptrs16 = aligned(x, 16) && aligned(w, 16) && aligned(y, 16) && aligned(e.mult, 16) && aligned(e.bias, 16);
  if (g.c % 16 == 0 && ptrs16 && wq && aligned(wq, 16)) {
    const unsigned blocks = blocksFor(int64_t{g.n} * g.oh * g.ow * (g.c / 16));
    const int k = g.kh == g.kw ? g.kh : 0;
    if (k == 3) qdepthwiseDp4a<3, kY><<<blocks, kBlock, 0, s>>>(x, wq, y, g, e);
    else if (k == 5) qdepthwiseDp4a<5, kY><<<blocks, kBlock, 0, s>>>(x, wq, y, g, e);
    else qdepthwiseDp4a<0, kY><<<blocks, kBlock, 0, s>>>(x, wq, y, g, e);
  } else if (g.c % 16 == 0 && ptrs16) launchVec<16, kY>(x, w, y, g, e, s);
  else if (g.c % 4 == 0 && aligned(x, 4) && aligned(w, 4) && aligned(y, 16) && aligned(e.mult, 16) && aligned(e.bias, 16))
    launchVec<4, kY>(x, w, y, g, e, s);
  else launchVec<1, kY>(x, w, y, g, e, s);
}

}  // namespace

void depthwiseConvInt8(const int8_t* x, const int8_t* w, const int32_t* wq, void* y, const DepthwiseGeometry& g,
                       const QDepthwiseEpilogue& e, cudaStream_t s) {
  if (int64_t{g.n} * g.oh * g.ow * g.c <= 0) return;
  if (e.y_int8) launchTyped<YKind::kInt8>(x, w, wq, y, g, e, s);
  else if (e.y_half) launchTyped<YKind::kHalf>(x, w, wq, y, g, e, s);
  else launchTyped<YKind::kFloat>(x, w, wq, y, g, e, s);
}

}  // namespace qrt::cuda::launch
