// Device pieces of qrt's stem convolution kernels (stem_conv.cu: the gather and row-tile kernels;
// stem_pool.cu: the row-tile kernel with the max pooling after it): the mma.sync step, the
// epilogue's activation and stores, and the row-tile kernels' shared-memory tables, input window
// and fragment loop. Included by those .cu files only.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/conv_epilogue.cuh"
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/stem_conv_launch.h"

namespace qrt::cuda::launch::stem_detail {

__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// The quantizing epilogue (g.quant): q = clamp(round_half_even(v * q_inv + q_zero), lo, hi) as two
// fused multiply-adds, t = saturate(v * a + c) in [0, 1] (c = (q_zero - lo) / r, r = hi - lo) and
// t * r + (1.5 * 2^23 + lo), whose single rounding is to an integer (the float's low byte is then q's
// byte, two's complement for int8). The clamp is the .sat; a ReLU before it is the clamp's low bound
// max(lo, q_zero) (relu(v) quantizes to q_zero where v <= 0), and the bias folds into c, so the
// None and ReLU forms quantize each fp32 accumulator in two instructions. The first quantizing
// epilogue rounded to fp16 first (the FP16 convolution's output, then QuantizeLinear), unpacked,
// clamped twice and added the magic number: about 10 instructions a value, and the ALU pipe the
// busiest of the kernel (ncu, H100, session 8). The value differs from QuantizeLinear's
// (an exact quotient of the fp16 value) only where v lies within an fp16 rounding (or a few fp32
// roundings: the constants divided by r) of a rounding midpoint: one step, the tests' INT8 bound.
// NaN lands on lo.
struct QuantConsts {
  float a = 0.f, r = 0.f, m = 0.f;  // q_inv / r, r, 1.5 * 2^23 + lo
};

// The constants for g.quant with low bound lo (g.q_lo, or max(g.q_lo, g.q_zero) after a ReLU).
__device__ __forceinline__ QuantConsts quantConsts(const StemGeometry& g, float lo) {
  QuantConsts k;
  k.r = g.q_hi - lo;
  k.a = g.q_inv / k.r;
  k.m = 12582912.f + lo;
  return k;
}

// q's bits in the low byte; c = (v's bias * q_inv + q_zero - lo) / r (quantConsts).
__device__ __forceinline__ uint32_t quantBits(float v, float c, const QuantConsts& k) {
  return __float_as_uint(fmaf(__saturatef(fmaf(v, k.a, c)), k.r, k.m));
}

// Eight outputs of one pixel, channels from element e of y: the fp16 words as they are (one
// 16-byte store), or quantized per g.quant from those fp16 values (one 8-byte store; the gather
// kernel's form, whose epilogue rounds to fp16 in its staging tile).
__device__ __forceinline__ void storeEight(void* y, size_t e, uint4 h, const StemGeometry& g) {
  if (g.quant == StemGeometry::Quant::kNone) {
    *reinterpret_cast<uint4*>(static_cast<__half*>(y) + e) = h;
    return;
  }
  const QuantConsts k = quantConsts(g, g.q_lo);
  const float c = (g.q_zero - g.q_lo) / k.r;
  const uint32_t w[4] = {h.x, h.y, h.z, h.w};
  uint32_t b[8];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 v = __half22float2(*reinterpret_cast<const __half2*>(&w[j]));
    b[2 * j] = quantBits(v.x, c, k);
    b[2 * j + 1] = quantBits(v.y, c, k);
  }
  *reinterpret_cast<uint2*>(static_cast<uint8_t*>(y) + e) =
      make_uint2(packBytes(b[0], b[1], b[2], b[3]), packBytes(b[4], b[5], b[6], b[7]));
}

__device__ __forceinline__ float loadFloat(const float* p) { return __ldg(p); }
__device__ __forceinline__ float loadFloat(const __half* p) { return __half2float(__ldg(p)); }

__device__ __forceinline__ uint32_t pack2(unsigned short lo, unsigned short hi) {
  return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
}

// The epilogue's activation, resolved at compile time where it is the common one: a runtime
// switch per element, inlined 64 times per pixel pair, made the kernel's code many times larger.
enum : int { kActNone = 0, kActRelu = 1, kActAny = 2 };

template <int kAct>
__device__ __forceinline__ float activateT(float v, UnaryOp op, float a, float b) {
  if (kAct == kActNone) return v;
  if (kAct == kActRelu) return fmaxf(v, 0.f);
  return epilogueActivate(true, op, v, a, b);
}

inline int actKind(bool on, UnaryOp op) {
  return !on || op == UnaryOp::kIdentity ? kActNone : op == UnaryOp::kRelu ? kActRelu : kActAny;
}

// ---- The row-tile kernels' pieces (stem_conv.cu's comment on stemRowsKernel) ----
// Shared memory from its start: Bf [ksteps][8 n8 tiles][32 lanes] {b0, b1} (the weights in fragment
// order), ktab [ksteps][4] (window offsets of k = 2 t4, +1, +8, +9), then the window X [c][SR][WP]
// (fp16 bits) at rowsWindowAt.
__host__ __device__ inline size_t rowsTablesBytes(int k_pad) {
  const size_t ksteps = static_cast<size_t>(k_pad) / 16;
  return ksteps * 8 * 32 * 8 + ksteps * 4 * 16;
}

// The tables for the block's 64 channels from m0 (nb of them; Bf is zero past nb) and a window of
// SR rows of pitch WP, by `threads` threads.
template <bool kNchw>
__device__ __forceinline__ void rowsTables(unsigned char* smem, const __half* __restrict__ w, const StemGeometry& g,
                                           int m0, int nb, int SR, int WP, int tid, int threads) {
  const int ksteps = g.k_pad / 16;
  uint2* Bf = reinterpret_cast<uint2*>(smem);
  int4* ktab = reinterpret_cast<int4*>(Bf + ksteps * 256);
  // A patch row's taps (tap pairs pad the NCHW order's rows; the NHWC order is (r, s, c)).
  const int pitch = kNchw ? stemTapPitch(g) : g.kw, taps = g.kh * pitch, K = taps * g.c;
  for (int i = tid; i < ksteps * 4; i += threads) {
    const int ks = i >> 2, q = i & 3;
    int o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int k = ks * 16 + 2 * q + (j & 1) + (j >> 1) * 8;
      // The patch order of stemPackWeights: NCHW (c, r, s), NHWC (r, s, c). k beyond the
      // patch, or a pair's padding tap s = kw: any finite staged value will do (the padding tap's
      // is the window row's next column, within its pitch), its weight is zero.
      const int c = kNchw ? k / taps : k % g.c, t = kNchw ? k % taps : k / g.c;
      o[j] = k < K ? (c * SR + t / pitch) * WP + t % pitch : 0;
    }
    ktab[i] = make_int4(o[0], o[1], o[2], o[3]);
  }
  for (int i = tid; i < ksteps * 256; i += threads) {
    const int l = i & 31, nt = (i >> 5) & 7, ks = i >> 8;
    const int n = nt * 8 + (l >> 2), k = ks * 16 + (l & 3) * 2;
    uint2 v = make_uint2(0u, 0u);
    if (n < nb) {
      const uint32_t* row = reinterpret_cast<const uint32_t*>(w + static_cast<size_t>(m0 + n) * g.k_pad);
      v.x = __ldg(row + k / 2);
      v.y = __ldg(row + k / 2 + 4);
    }
    Bf[i] = v;
  }
}

// Stages the input window of image xn whose corner is (iy0, ix0): C x SR rows of WP columns, fp16,
// zeros outside the image (a warp per window row, two rows at a time, up to 256 columns each, so 16
// loads are in flight per thread).
template <typename T, bool kNchw>
__device__ __forceinline__ void stageWindow(unsigned short* X, const T* __restrict__ xn, const StemGeometry& g,
                                            int iy0, int ix0, int SR, int WP, int warp, int lane, int warps) {
  const int CR = g.c * SR;  // window rows, all channels
  for (int cr0 = warp; cr0 < CR; cr0 += warps * 2) {
    for (int col0 = 0; col0 < WP; col0 += 256) {
      float v[2][8];
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        const int cr = cr0 + rr * warps, c = cr / SR, iy = iy0 + cr - c * SR;
        const bool row_ok = cr < CR && static_cast<unsigned>(iy) < static_cast<unsigned>(g.h);
        const int row = kNchw ? (c * g.h + iy) * g.w : iy * g.w * g.c + c;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int col = col0 + j * 32 + lane, ix = ix0 + col;
          v[rr][j] = !(g.probe & 1) && row_ok && col < WP && static_cast<unsigned>(ix) < static_cast<unsigned>(g.w)
                         ? loadFloat(xn + row + (kNchw ? ix : ix * g.c))
                         : 0.f;
        }
      }
#pragma unroll
      for (int rr = 0; rr < 2; ++rr) {
        const int cr = cr0 + rr * warps;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const int col = col0 + j * 32 + lane;
          if (cr < CR && col < WP) X[cr * WP + col] = __half_as_ushort(__float2half_rn(v[rr][j]));
        }
      }
    }
  }
}

__device__ __forceinline__ void zeroAcc(float (&acc)[2][8][4]) {
#pragma unroll
  for (int mt = 0; mt < 2; ++mt)
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[mt][nt][j] = 0.f;
}

// Host: f(T{}, std::bool_constant<kNchw>{}) for g's input form, the element type T and the layout the
// kernels are instantiated for: fp16 NHWC, fp16 NCHW, fp32 NCHW.
template <typename F>
auto withInput(StemGeometry::Input input, F&& f) {
  switch (input) {
    case StemGeometry::Input::kNhwcHalf: return f(__half{}, std::false_type{});
    case StemGeometry::Input::kNchwHalf: return f(__half{}, std::true_type{});
    default: return f(float{}, std::true_type{});  // kNchwFloat
  }
}

// Host, at reshape: opts a kernel's three activation forms into `smem` bytes of dynamic shared
// memory and counts the blocks of `threads` the device holds at once (per SM x SMs, at least 1).
template <typename K>
cudaError_t residentBlocks(const K (&forms)[3], int threads, size_t smem, int64_t* slots) {
  cudaError_t e = cudaSuccess;
  for (K k : forms)
    if (e == cudaSuccess) e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  int device = 0, sms = 1, per_sm = 1;
  if (e == cudaSuccess) e = cudaGetDevice(&device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (e == cudaSuccess) e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, forms[1], threads, smem);
  *slots = int64_t{std::max(1, per_sm)} * sms;
  return e;
}

// Two m16 tiles x 64 channels of the patch product: tile mt's rows start at window offset b0[mt]
// (its lane's pixel g8; b1 = that + 8 pixels), the fragments read from the staged window X through
// ktab, the weights from Bf. kPairs (g.pairs): k and k + 1 are neighbours (o.y = o.x + 1, o.w =
// o.z + 1) at an even offset (b0, b1 and o.x, o.z even), one 32-bit word (low half k: the mma's
// order), so a fragment is four 32-bit loads instead of eight 16-bit loads and four packs.
template <bool kPairs>
__device__ __forceinline__ void rowsProductT(float (&acc)[2][8][4], const unsigned char* smem,
                                             const unsigned short* X, const int (&b0)[2], const int (&b1)[2],
                                             const StemGeometry& g, int lane) {
  const int ksteps = g.k_pad / 16, t4 = lane & 3;
  const uint2* Bf = reinterpret_cast<const uint2*>(smem);
  const int4* ktab = reinterpret_cast<const int4*>(Bf + ksteps * 256);
  const uint32_t* X32 = reinterpret_cast<const uint32_t*>(X);
  zeroAcc(acc);
  for (int ks = 0; ks < ((g.probe & 2) ? 0 : ksteps); ++ks) {
    const int4 o = ktab[ks * 4 + t4];
    uint2 bf[8];
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) bf[nt] = Bf[(ks * 8 + nt) * 32 + lane];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      uint32_t a[4];
      if (kPairs) {
        a[0] = X32[(b0[mt] >> 1) + (o.x >> 1)];
        a[1] = X32[(b1[mt] >> 1) + (o.x >> 1)];
        a[2] = X32[(b0[mt] >> 1) + (o.z >> 1)];
        a[3] = X32[(b1[mt] >> 1) + (o.z >> 1)];
      } else {
        a[0] = pack2(X[b0[mt] + o.x], X[b0[mt] + o.y]);
        a[1] = pack2(X[b1[mt] + o.x], X[b1[mt] + o.y]);
        a[2] = pack2(X[b0[mt] + o.z], X[b0[mt] + o.w]);
        a[3] = pack2(X[b1[mt] + o.z], X[b1[mt] + o.w]);
      }
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) mma16816(acc[mt][nt], a, bf[nt].x, bf[nt].y);  // Bf is zero past nb
    }
  }
}

__device__ __forceinline__ void rowsProduct(float (&acc)[2][8][4], const unsigned char* smem,
                                            const unsigned short* X, const int (&b0)[2], const int (&b1)[2],
                                            const StemGeometry& g, int lane) {
  if (g.pairs)  // uniform: one loop or the other
    rowsProductT<true>(acc, smem, X, b0, b1, g, lane);
  else
    rowsProductT<false>(acc, smem, X, b0, b1, g, lane);
}

// A 4x4 transpose of 32-bit words within each lane quad: out[q] of lane t = h[t] of lane q. Two
// butterfly steps: swap the off-diagonal 2x2 blocks with the lane two away, then the off-diagonal
// words of each 2x2 block with the neighbouring lane; each lane sends and receives two words a step
// (4 shuffles and 12 selects in all, against 4 shuffles and ~28 selects and index operations of the
// rotate-by-j form it replaced; same words).
__device__ __forceinline__ uint4 quadTranspose(const uint32_t (&h)[4], int lane) {
  const bool hi = (lane & 2) != 0, odd = (lane & 1) != 0;
  // Step 1 (lanes t, t ^ 2): the words of the other half's columns change places.
  const uint32_t r0 = __shfl_xor_sync(0xffffffffu, hi ? h[0] : h[2], 2);
  const uint32_t r1 = __shfl_xor_sync(0xffffffffu, hi ? h[1] : h[3], 2);
  const uint32_t b[4] = {hi ? r0 : h[0], hi ? r1 : h[1], hi ? h[2] : r0, hi ? h[3] : r1};
  // Step 2 (lanes t, t ^ 1): within each 2x2 block.
  const uint32_t v0 = __shfl_xor_sync(0xffffffffu, odd ? b[0] : b[1], 1);
  const uint32_t v1 = __shfl_xor_sync(0xffffffffu, odd ? b[2] : b[3], 1);
  return make_uint4(odd ? v0 : b[0], odd ? b[1] : v0, odd ? v1 : b[2], odd ? b[3] : v1);
}

// The epilogue of m16 tile mt, pixel half rh (rows g8 + 8 rh), channel tiles ntb..ntb + 3: bias +
// activation as fp16, then quadTranspose, so lane t4 holds channels (ntb + t4) * 8 .. + 7 of its
// pixel (16 bytes).
template <int kAct>
__device__ __forceinline__ uint4 quadChannels(const float (&acc)[2][8][4], const float (&bv)[8][2], int mt, int rh,
                                              int ntb, int lane, UnaryOp act, float aa, float bb) {
  uint32_t h[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const __half2 p = __floats2half2_rn(activateT<kAct>(acc[mt][ntb + q][rh * 2] + bv[ntb + q][0], act, aa, bb),
                                        activateT<kAct>(acc[mt][ntb + q][rh * 2 + 1] + bv[ntb + q][1], act, aa, bb));
    h[q] = *reinterpret_cast<const uint32_t*>(&p);
  }
  return quadTranspose(h, lane);
}

// The quantizing per-lane constants: qc[nt][e] for the lane's channel nt * 8 + 2 t4 + e (quantBits'
// c, the bias folded in where the activation is none or ReLU; kActAny adds the bias and activates
// first), and k.
template <int kAct>
__device__ __forceinline__ QuantConsts quadQuantConsts(float (&qc)[8][2], const float (&bv)[8][2],
                                                       const StemGeometry& g) {
  const float lo = kAct == kActRelu ? fmaxf(g.q_lo, g.q_zero) : g.q_lo;
  const QuantConsts k = quantConsts(g, lo);
#pragma unroll
  for (int nt = 0; nt < 8; ++nt)
#pragma unroll
    for (int e = 0; e < 2; ++e)
      qc[nt][e] = (kAct == kActAny ? g.q_zero - lo : fmaf(bv[nt][e], g.q_inv, g.q_zero - lo)) / k.r;
  return k;
}

// The quantizing epilogue of m16 tile mt, pixel half rh, all eight channel tiles: each lane
// quantizes its 16 values (channels nt * 8 + 2 t4 + {0, 1}) into four words, word j holding
// channels 16 j + 2 t4 + {0, 1, 8, 9}; quadTranspose gives lane t the words of channels 16 t + 2 q +
// {0, 1, 8, 9} from each lane q, and four byte permutes order them: lane t4 holds channels
// 16 t4 .. + 15 of its pixel, one 16-byte store (int8) instead of two 8-byte ones.
template <int kAct>
__device__ __forceinline__ uint4 quadQuant(const float (&acc)[2][8][4], const float (&bv)[8][2],
                                           const float (&qc)[8][2], const QuantConsts& k, int mt, int rh, int lane,
                                           UnaryOp act, float aa, float bb) {
  uint32_t w[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    uint32_t b[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int nt = 2 * j + (i >> 1), e = i & 1;
      const float v = acc[mt][nt][rh * 2 + e];
      b[i] = quantBits(kAct == kActAny ? activateT<kAct>(v + bv[nt][e], act, aa, bb) : v, qc[nt][e], k);
    }
    w[j] = packBytes(b[0], b[1], b[2], b[3]);
  }
  const uint4 t = quadTranspose(w, lane);
  return make_uint4(__byte_perm(t.x, t.y, 0x5410u), __byte_perm(t.z, t.w, 0x5410u), __byte_perm(t.x, t.y, 0x7632u),
                    __byte_perm(t.z, t.w, 0x7632u));
}

// Stores lane t4's 16 quantized channels of a pixel (quadQuant) at byte e of y (channel 16 t4 of
// the block's): 16 bytes where the tile has them (and g.m keeps them aligned), else 8 or none.
__device__ __forceinline__ void storeQuad(void* y, size_t e, uint4 q, int t4, int ntiles, const StemGeometry& g) {
  uint8_t* p = static_cast<uint8_t*>(y) + e + t4 * 16;
  if (2 * t4 + 1 < ntiles && g.m % 16 == 0) {
    *reinterpret_cast<uint4*>(p) = q;
  } else {
    if (2 * t4 < ntiles) *reinterpret_cast<uint2*>(p) = make_uint2(q.x, q.y);
    if (2 * t4 + 1 < ntiles) *reinterpret_cast<uint2*>(p + 8) = make_uint2(q.z, q.w);
  }
}

// The bias of the lane's channel pairs (nt * 8 + 2 t4, + 1) of the block's nb channels from m0.
__device__ __forceinline__ void rowsBias(float (&bv)[8][2], const __half* __restrict__ bias, int m0, int nb, int lane) {
  const int t4 = lane & 3;
#pragma unroll
  for (int nt = 0; nt < 8; ++nt) {
    const int ch = nt * 8 + t4 * 2;
    bv[nt][0] = bias && ch < nb ? __half2float(bias[m0 + ch]) : 0.f;
    bv[nt][1] = bias && ch < nb ? __half2float(bias[m0 + ch + 1]) : 0.f;
  }
}

}  // namespace qrt::cuda::launch::stem_detail
