// Depthwise convolution kernels (see depthwise_launch.h). Channels-last: one thread per output
// pixel and vector of channels (8 halves or 4 floats, one 16-byte load per tap; channel counts
// that are no multiple of the vector go one channel per thread), so a warp reads contiguous
// memory; square undilated windows of stride 1 or 2 take two outputs along x a thread
// (depthwiseNhwcX2). NCHW: one thread per output element. Accumulation in fp32; 32-bit index arithmetic
// (64-bit division is slow on the GPU; depthwiseFits bounds the sizes).
#include <cstdlib>
#include <cstring>

#include "backends/cuda/conv_epilogue.cuh"
#include "backends/cuda/depthwise_launch.h"
#include "backends/cuda/device_util.cuh"

namespace qrt::cuda::launch {

namespace {

// V consecutive elements as floats: one 16-byte load when V elements are 16 bytes.
template <typename T, int V>
__device__ __forceinline__ void loadVec(const T* p, float* out) {
  if constexpr (V * sizeof(T) == 16) {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
    const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int i = 0; i < V; ++i) out[i] = ld(e, i);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) out[i] = ld(p, i);
  }
}

template <typename T, int V>
__device__ __forceinline__ void storeVec(T* p, const float* v) {
  if constexpr (V * sizeof(T) == 16) {
    uint4 u;
    T* e = reinterpret_cast<T*>(&u);
#pragma unroll
    for (int i = 0; i < V; ++i) st(e, i, v[i]);
    *reinterpret_cast<uint4*>(p) = u;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) st(p, i, v[i]);
  }
}

// K > 0: a kh = kw = K kernel known at compile time (unrolled taps); 0: the geometry's.
template <typename T, int V, int K>
__global__ void depthwiseNhwc(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                              const T* __restrict__ z, T* __restrict__ y, DepthwiseGeometry g, bool act_on, UnaryOp act,
                              float a, float b) {
  const int kh = K > 0 ? K : g.kh, kw = K > 0 ? K : g.kw;
  const unsigned cv = static_cast<unsigned>(g.c / V);
  const unsigned total = static_cast<unsigned>(g.n) * g.oh * g.ow * cv;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcVecIndex at = nhwcVecIndex<V>(i, cv, g.ow, g.oh);
    const unsigned c = at.c, n = at.n;
    const int ox = at.ox, oy = at.oy;
    float acc[V];
    if (bias) {
      loadVec<T, V>(bias + c, acc);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] = 0.f;
    }
    const int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
    const T* xn = x + static_cast<size_t>(n) * g.h * g.w * g.c + c;
#pragma unroll
    for (int r = 0; r < kh; ++r) {
      const int iy = iy0 + r * g.dh;
      if (iy < 0 || iy >= g.h) continue;
#pragma unroll
      for (int s = 0; s < kw; ++s) {
        const int ix = ix0 + s * g.dw;
        if (ix < 0 || ix >= g.w) continue;
        float xv[V], wv[V];
        loadVec<T, V>(xn + (static_cast<unsigned>(iy) * g.w + ix) * static_cast<unsigned>(g.c), xv);
        loadVec<T, V>(w + static_cast<unsigned>(r * kw + s) * g.c + c, wv);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] = fmaf(xv[j], wv[j], acc[j]);
      }
    }
    const unsigned o = i * V;  // NHWC output index of channel c
    if (z) {
      float zv[V];
      loadVec<T, V>(z + o, zv);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += zv[j];
    }
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = epilogueActivate(act_on, act, acc[j], a, b);
    storeVec<T, V>(y + o, acc);
  }
}

// Channels-last, K x K undilated, stride S in both dims: each thread computes PX = 2 outputs
// along x for its vector of V channels. The input columns the two windows share are loaded and
// widened to fp32 once (a row's (PX - 1) * S + K columns, not PX * K), and each tap's weights once
// for both outputs: the per-output kernel above issued ~80 instructions an output channel on
// MobileNetV2's fp16 depthwise layers at batch 256 (ncu, H200, session 13: issue-bound at 80% of
// the slots, 1.3 TB/s), two thirds of them loads and conversions.
template <typename T, int V, int K, int S>
__global__ void __launch_bounds__(kBlock) depthwiseNhwcX2(const T* __restrict__ x, const T* __restrict__ w,
                                                          const T* __restrict__ bias, const T* __restrict__ z,
                                                          T* __restrict__ y, DepthwiseGeometry g, bool act_on,
                                                          UnaryOp act, float a, float b) {
  constexpr int PX = 2, COLS = (PX - 1) * S + K;
  const unsigned cv = static_cast<unsigned>(g.c / V);
  const int owp = (g.ow + PX - 1) / PX;  // output column pairs a row
  const unsigned total = static_cast<unsigned>(g.n) * g.oh * owp * cv;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcVecIndex at = nhwcVecIndex<V>(i, cv, owp, g.oh);
    const unsigned c = at.c, n = at.n;
    const int ox0 = at.ox * PX, oy = at.oy;
    float acc[PX][V];
#pragma unroll
    for (int p = 0; p < PX; ++p) {
      if (bias) {
        loadVec<T, V>(bias + c, acc[p]);
      } else {
#pragma unroll
        for (int j = 0; j < V; ++j) acc[p][j] = 0.f;
      }
    }
    const int iy0 = oy * S - g.ph, ix0 = ox0 * S - g.pw;
    const T* xn = x + static_cast<size_t>(n) * g.h * g.w * g.c + c;
#pragma unroll
    for (int r = 0; r < K; ++r) {
      const int iy = iy0 + r;
      if (iy < 0 || iy >= g.h) continue;
      float xv[COLS][V];
#pragma unroll
      for (int q = 0; q < COLS; ++q) {
        const int ix = ix0 + q;
        if (ix >= 0 && ix < g.w) {
          loadVec<T, V>(xn + (static_cast<unsigned>(iy) * g.w + ix) * static_cast<unsigned>(g.c), xv[q]);
        } else {
#pragma unroll
          for (int j = 0; j < V; ++j) xv[q][j] = 0.f;  // padding adds nothing
        }
      }
#pragma unroll
      for (int s = 0; s < K; ++s) {
        float wv[V];
        loadVec<T, V>(w + static_cast<unsigned>(r * K + s) * g.c + c, wv);
#pragma unroll
        for (int p = 0; p < PX; ++p)
#pragma unroll
          for (int j = 0; j < V; ++j) acc[p][j] = fmaf(xv[p * S + s][j], wv[j], acc[p][j]);
      }
    }
#pragma unroll
    for (int p = 0; p < PX; ++p) {
      if (ox0 + p >= g.ow) break;
      // NHWC output index of channel c at (n, oy, ox0 + p)
      const unsigned o = ((static_cast<unsigned>(n) * g.oh + oy) * g.ow + ox0 + p) * static_cast<unsigned>(g.c) + c;
      if (z) {
        float zv[V];
        loadVec<T, V>(z + o, zv);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[p][j] += zv[j];
      }
#pragma unroll
      for (int j = 0; j < V; ++j) acc[p][j] = epilogueActivate(act_on, act, acc[p][j], a, b);
      storeVec<T, V>(y + o, acc[p]);
    }
  }
}

template <typename T, int K>
__global__ void depthwiseNchw(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                              const T* __restrict__ z, T* __restrict__ y, DepthwiseGeometry g, bool act_on, UnaryOp act,
                              float a, float b) {
  const int kh = K > 0 ? K : g.kh, kw = K > 0 ? K : g.kw;
  const unsigned total = static_cast<unsigned>(g.n) * g.c * g.oh * g.ow;
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const int ox = static_cast<int>(i % g.ow);
    unsigned p = i / g.ow;
    const int oy = static_cast<int>(p % g.oh);
    const unsigned nc = p / g.oh;  // n * C + c
    const unsigned c = nc % g.c;
    float acc = bias ? ld(bias, c) : 0.f;
    const T* xp = x + static_cast<size_t>(nc) * g.h * g.w;
    const T* wp = w + static_cast<size_t>(c) * kh * kw;
    const int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
#pragma unroll
    for (int r = 0; r < kh; ++r) {
      const int iy = iy0 + r * g.dh;
      if (iy < 0 || iy >= g.h) continue;
#pragma unroll
      for (int s = 0; s < kw; ++s) {
        const int ix = ix0 + s * g.dw;
        if (ix < 0 || ix >= g.w) continue;
        acc = fmaf(ld(xp, iy * g.w + ix), ld(wp, r * kw + s), acc);
      }
    }
    if (z) acc += ld(z, i);
    st(y, i, epilogueActivate(act_on, act, acc, a, b));
  }
}

unsigned gridFor(int64_t work) { return blocksFor(work, kBlock); }

bool dwX2Off() {
  const char* v = std::getenv("QRT_CUDA_DW_X2");
  return v && std::strcmp(v, "off") == 0;
}

template <typename T>
void launchTyped(const T* x, const T* w, const T* bias, const T* z, T* y, const DepthwiseGeometry& g, bool on,
                 UnaryOp act, float a, float b, cudaStream_t s) {
  const int k = g.kh == g.kw ? g.kh : 0;
  if (g.channels_last) {
    constexpr int V = static_cast<int>(16 / sizeof(T));
    auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool vec = g.c % V == 0 && aligned(x) && aligned(w) && aligned(bias) && aligned(z) && aligned(y);
    const int64_t work = int64_t{g.n} * g.oh * g.ow * (vec ? g.c / V : g.c);
    const unsigned blocks = gridFor(work);
#define QRT_DW_NHWC(VV, KK) depthwiseNhwc<T, VV, KK><<<blocks, kBlock, 0, s>>>(x, w, bias, z, y, g, on, act, a, b)
#define QRT_DW_X2(KK, SS)                                                                                   \
  depthwiseNhwcX2<T, V, KK, SS><<<gridFor(int64_t{g.n} * g.oh * ((g.ow + 1) / 2) * (g.c / V)), kBlock, 0, s>>>( \
      x, w, bias, z, y, g, on, act, a, b)
    // Two outputs a thread where the window is square, undilated, stride 1 or 2 (QRT_CUDA_DW_X2=off: one).
    const bool x2 = vec && (k == 3 || k == 5) && g.dh == 1 && g.dw == 1 && g.sh == g.sw && (g.sw == 1 || g.sw == 2) &&
                    g.ow >= 2 && !dwX2Off();
    if (x2) {
      if (k == 3 && g.sw == 1) QRT_DW_X2(3, 1);
      else if (k == 3) QRT_DW_X2(3, 2);
      else if (g.sw == 1) QRT_DW_X2(5, 1);
      else QRT_DW_X2(5, 2);
    } else if (vec) {
      if (k == 3) QRT_DW_NHWC(V, 3);
      else if (k == 5) QRT_DW_NHWC(V, 5);
      else QRT_DW_NHWC(V, 0);
    } else {
      if (k == 3) QRT_DW_NHWC(1, 3);
      else QRT_DW_NHWC(1, 0);
    }
#undef QRT_DW_NHWC
#undef QRT_DW_X2
    return;
  }
  const unsigned blocks = gridFor(int64_t{g.n} * g.c * g.oh * g.ow);
  if (k == 3) depthwiseNchw<T, 3><<<blocks, kBlock, 0, s>>>(x, w, bias, z, y, g, on, act, a, b);
  else if (k == 5) depthwiseNchw<T, 5><<<blocks, kBlock, 0, s>>>(x, w, bias, z, y, g, on, act, a, b);
  else depthwiseNchw<T, 0><<<blocks, kBlock, 0, s>>>(x, w, bias, z, y, g, on, act, a, b);
}

}  // namespace

bool depthwiseActivationSupported(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
    case UnaryOp::kLeakyRelu:
    case UnaryOp::kClip:
    case UnaryOp::kSigmoid:
    case UnaryOp::kSwish:
    case UnaryOp::kHardSigmoid:
    case UnaryOp::kHardSwish:
    case UnaryOp::kIdentity: return true;
    default: return false;
  }
}

void depthwiseConv(DataType t, const void* x, const void* w, const void* bias, const void* z, void* y,
                   const DepthwiseGeometry& g, bool act_on, UnaryOp act, float a, float b, cudaStream_t s) {
  if (t == DataType::kHalf)
    launchTyped(static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<const __half*>(bias),
                static_cast<const __half*>(z), static_cast<__half*>(y), g, act_on, act, a, b, s);
  else
    launchTyped(static_cast<const float*>(x), static_cast<const float*>(w), static_cast<const float*>(bias),
                static_cast<const float*>(z), static_cast<float*>(y), g, act_on, act, a, b, s);
}

}  // namespace qrt::cuda::launch
