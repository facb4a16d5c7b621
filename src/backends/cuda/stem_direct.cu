// The direct stem kernel: a stem convolution of few taps (kh * kw * C <= kStemDirectMaxK: the 3x3,
// 3-channel stems of MobileNetV2/V3, EfficientNet and PP-LCNet) computed by fp32 FMAs, one output
// pixel and MC channels a thread, no tensor cores.
//
// Why: the row-tile kernel (stem_conv.cu) is shaped for ResNet's 7x7 stem (K = 147 taps, 64
// channels): an m16n8k16 tile of 64 channels a block, the input window staged in fp16. On
// MobileNetV2's 3x3 / 2, 3 -> 32 stem (K = 27, padded to 32; half the block's channels) it took
// 0.56 ms (fp16 y) and 0.60 ms (int8 y) at batch 256 on an H200 (session 13), about 0.6 TB/s for
// 154 MB of fp32 input and 205 MB of fp16 output: 15% of the INT8 engine's kernel time. Here a
// thread reads its pixel's 27 inputs (through L1: neighbouring pixels share window columns) and
// runs 27 x MC FMAs against the block's weights in shared memory (fp32, [k][m]: one 16-byte load
// for four channels of a tap, the same address for every lane), then the FusedConv epilogue
// (bias, activation) and fp16 or quantized stores of MC contiguous channels. About 45
// instructions an output value; no staging, no padding of K or M.
//
// Values: fp32 products and sums in tap order (the reference's order over (c, r, s)), then the
// activation in fp32; y rounds once to fp16, or quantizes from the fp32 value (stem_device.cuh's
// quantBits, as the row-tile kernel).
#include <cstdlib>
#include <string>

#include "backends/cuda/stem_device.cuh"

namespace qrt::cuda::launch {

namespace {

using namespace stem_detail;

constexpr int kThreads = 256;
constexpr int kMaxM = 64;  // the weights [kStemDirectMaxK][kMaxM] fp32 in shared memory: 8 KB

// Channels a thread: 32, 16 or 8, the largest that divides M (16-byte stores of fp16 need 8, of
// int8 16; stemDirectApplies keeps M a multiple of 8).
int channelsPerThread(int m) { return m % 32 == 0 ? 32 : m % 16 == 0 ? 16 : 8; }

template <typename T, bool kNchw, int MC, int kAct, bool kQuant>
__global__ void __launch_bounds__(kThreads) stemDirectKernel(const T* __restrict__ x, const __half* __restrict__ w,
                                                             const __half* __restrict__ bias, void* __restrict__ y,
                                                             StemGeometry g, UnaryOp act, float aa, float bb) {
  __shared__ __align__(16) float ws[kStemDirectMaxK][kMaxM];
  __shared__ int2 ktab[kStemDirectMaxK];  // per tap k: {input offset from the window's corner, r << 16 | s}
  const int taps = g.kh * g.kw, K = taps * g.c;
  for (int i = threadIdx.x; i < K * g.m; i += kThreads) {
    const int k = i / g.m, m = i - k * g.m;
    ws[k][m] = __half2float(w[static_cast<size_t>(m) * g.k_pad + k]);  // stemPackWeights' [M][k_pad] order
  }
  for (int k = threadIdx.x; k < K; k += kThreads) {
    int c, t;
    if (kNchw) {
      c = k / taps;
      t = k - c * taps;
    } else {
      t = k / g.c;
      c = k - t * g.c;
    }
    const int r = t / g.kw, s = t - r * g.kw;
    ktab[k] = make_int2(kNchw ? (c * g.h + r) * g.w + s : (r * g.w + s) * g.c + c, (r << 16) | s);
  }
  __syncthreads();
  const int groups = g.m / MC;  // threads a pixel
  const int64_t pixels = int64_t{g.n} * g.oh * g.ow, total = pixels * groups;
  QuantConsts qk;
  float qc = 0.f;
  if (kQuant) {
    qk = quantConsts(g, g.q_lo);
    qc = (g.q_zero - g.q_lo) / qk.r;
  }
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < total; i += int64_t{gridDim.x} * kThreads) {
    const int p = static_cast<int>(i / groups), m0 = static_cast<int>(i - int64_t{p} * groups) * MC;
    const int ox = p % g.ow, rest = p / g.ow, oy = rest % g.oh, n = rest / g.oh;
    const int iy0 = oy * g.sh - g.ph, ix0 = ox * g.sw - g.pw;
    // The window corner's offset (it may lie in the padding: every read is bounds-checked).
    const int64_t base = kNchw ? int64_t{n} * g.c * g.h * g.w + int64_t{iy0} * g.w + ix0
                               : ((int64_t{n} * g.h + iy0) * g.w + ix0) * g.c;
    float acc[MC];
#pragma unroll
    for (int j = 0; j < MC; ++j) acc[j] = bias ? __half2float(bias[m0 + j]) : 0.f;
#pragma unroll 3
    for (int k = 0; k < K; ++k) {
      const int2 e = ktab[k];
      const int iy = iy0 + (e.y >> 16), ix = ix0 + (e.y & 0xFFFF);
      const float v = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w ? loadFloat(x + base + e.x) : 0.f;
      const float4* wk = reinterpret_cast<const float4*>(&ws[k][m0]);
#pragma unroll
      for (int j = 0; j < MC / 4; ++j) {
        const float4 wv = wk[j];
        acc[4 * j] = fmaf(v, wv.x, acc[4 * j]);
        acc[4 * j + 1] = fmaf(v, wv.y, acc[4 * j + 1]);
        acc[4 * j + 2] = fmaf(v, wv.z, acc[4 * j + 2]);
        acc[4 * j + 3] = fmaf(v, wv.w, acc[4 * j + 3]);
      }
    }
    const size_t at = static_cast<size_t>(p) * g.m + m0;
    if constexpr (kQuant) {
      uint32_t words[MC / 4];
#pragma unroll
      for (int j = 0; j < MC / 4; ++j) {
        uint32_t b[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) b[q] = quantBits(activateT<kAct>(acc[4 * j + q], act, aa, bb), qc, qk);
        words[j] = packBytes(b[0], b[1], b[2], b[3]);
      }
      uint8_t* yq = static_cast<uint8_t*>(y) + at;
      if constexpr (MC == 8) {
        *reinterpret_cast<uint2*>(yq) = make_uint2(words[0], words[1]);
      } else {
#pragma unroll
        for (int j = 0; j < MC / 16; ++j)
          reinterpret_cast<uint4*>(yq)[j] = make_uint4(words[4 * j], words[4 * j + 1], words[4 * j + 2], words[4 * j + 3]);
      }
    } else {
      uint32_t h[MC / 2];
#pragma unroll
      for (int j = 0; j < MC / 2; ++j) {
        const __half2 v = __floats2half2_rn(activateT<kAct>(acc[2 * j], act, aa, bb),
                                            activateT<kAct>(acc[2 * j + 1], act, aa, bb));
        h[j] = *reinterpret_cast<const uint32_t*>(&v);
      }
      __half* yh = static_cast<__half*>(y) + at;
#pragma unroll
      for (int j = 0; j < MC / 8; ++j)
        reinterpret_cast<uint4*>(yh)[j] = make_uint4(h[4 * j], h[4 * j + 1], h[4 * j + 2], h[4 * j + 3]);
    }
  }
}

// The kernel for g's input, channels a thread, activation form and output type.
template <typename T, bool kNchw, int MC, bool kQuant>
auto pickAct(int form) {
  using K = decltype(&stemDirectKernel<T, kNchw, MC, kActNone, kQuant>);
  static constexpr K forms[3] = {stemDirectKernel<T, kNchw, MC, kActNone, kQuant>,
                                 stemDirectKernel<T, kNchw, MC, kActRelu, kQuant>,
                                 stemDirectKernel<T, kNchw, MC, kActAny, kQuant>};
  return forms[form];
}

template <typename T, bool kNchw>
auto pick(const StemGeometry& g, int form) {
  const bool q = g.quant != StemGeometry::Quant::kNone;
  switch (channelsPerThread(g.m)) {
    case 32: return q ? pickAct<T, kNchw, 32, true>(form) : pickAct<T, kNchw, 32, false>(form);
    case 16: return q ? pickAct<T, kNchw, 16, true>(form) : pickAct<T, kNchw, 16, false>(form);
    default: return q ? pickAct<T, kNchw, 8, true>(form) : pickAct<T, kNchw, 8, false>(form);
  }
}

template <typename F>
auto withTypes(StemGeometry::Input in, F f) {
  switch (in) {
    case StemGeometry::Input::kNchwFloat: return f(float{}, std::true_type{});
    case StemGeometry::Input::kNchwHalf: return f(__half{}, std::true_type{});
    default: return f(__half{}, std::false_type{});
  }
}

}  // namespace

bool stemDirectApplies(const StemGeometry& g) {
  const char* v = std::getenv("QRT_CUDA_STEM_KERNEL");
  if (v && std::string(v) != "direct") return false;  // rows or gather asked for
  // Both forms passed their tests on an H200 (CudaInt8Stem.DirectStemQuantizes, session 14; fp16 y:
  // CudaStem.MatrixAgainstReference's direct pass, session 15).
  return !g.pool && g.kh * g.kw * g.c <= kStemDirectMaxK && g.m <= kMaxM && g.m % 8 == 0 &&
         g.k_pad == stemKPad(g.kh, g.kw, g.c);
}

cudaError_t stemDirectPrepare(StemGeometry* g) {
  g->direct = true;
  g->rows = 0;
  g->tw = 0;
  return withTypes(g->input, [&](auto t, auto nchw) {
    using T = decltype(t);
    int device = 0, sms = 1, per_sm = 1;
    cudaError_t e = cudaGetDevice(&device);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (e == cudaSuccess)
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, pick<T, nchw()>(*g, kActAny), kThreads, 0);
    const int64_t work = int64_t{g->n} * g->oh * g->ow * (g->m / channelsPerThread(g->m));
    const int64_t blocks = (work + kThreads - 1) / kThreads;
    g->blocks = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t{std::max(1, per_sm)} * sms)));
    return e;
  });
}

void stemDirectConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
                    UnaryOp act, float a, float b, cudaStream_t s) {
  withTypes(g.input, [&](auto t, auto nchw) {
    using T = decltype(t);
    const auto kernel = pick<T, nchw()>(g, actKind(act_on, act));
    kernel<<<static_cast<unsigned>(std::max(1, g.blocks)), kThreads, 0, s>>>(
        static_cast<const T*>(x), static_cast<const __half*>(w_packed), static_cast<const __half*>(bias), y, g, act,
        a, b);
    return 0;
  });
}

}  // namespace qrt::cuda::launch
