// Device code the int8 implicit-GEMM kernels share (qconv_igemm.cu: the mma.sync kernels;
// sm90a/qconv_wgmma.cu: the wgmma kernel): the 64-byte swizzled slice layout and its cp.async
// loaders, the staged int32 tile and QConv's epilogue. See qconv_igemm_launch.h for the scheme.
#pragma once

#include <cuda_fp16.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backends/cuda/device_util.cuh"
#include "backends/cuda/qconv_igemm_launch.h"

namespace qrt::cuda::launch::igemm_detail {


constexpr int kBK = kIgemmDepth;  // bytes of a row of a slice: 4 chunks of 16

// l1: through L1 (cp.async.ca: the line stays in L1 for the next reads of it; a 3x3 layer's im2col
// loads read each pixel of x up to 9 times, mostly within one CTA a few slices apart:
// IgemmEpilogue::x_l1), else L2 only (.cg).
__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid, bool l1 = false) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes are zero-filled
  if (l1)
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
  else
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrixX4(uint32_t* r, const void* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

__device__ __forceinline__ void mmaS8(int* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Byte offset of 16-byte chunk `chunk` (0..3) of row `row` in a slice of 64-byte rows. The XOR
// puts the 8 rows an ldmatrix phase reads (same logical chunk) in 8 distinct 16-byte bank groups.
__device__ __forceinline__ int swizzle(int row, int chunk) { return row * kBK + ((chunk ^ ((row >> 1) & 3)) << 4); }

// Float output: the reference's epilogue for one accumulator (reference/qops_common.h:
// apply/applyResidual), rounding for rounding: __fmul_rn/__fadd_rn keep nvcc from contracting.
__device__ __forceinline__ float exactValue(int acc, float mult, float bias, int zq, const IgemmEpilogue& e) {
  float v = __fadd_rn(__fmul_rn(static_cast<float>(acc), mult), bias);
  if (e.z) v = __fadd_rn(v, __fmul_rn(e.z_scale, static_cast<float>(zq)));
  if (e.act == QAct::kRelu) v = v < 0.f ? 0.f : v;
  else if (e.act == QAct::kClip) v = v < e.lo ? e.lo : (v > e.hi ? e.hi : v);
  return v;
}

// Int8 output, constants folded by 1/y_scale (IgemmEpilogue): two FMAs, one clamp (the activation
// and the saturation), round half to even; kZ: with the residual. It is most of the instructions
// of the memory-bound layers (ncu on an H100, ResNet-50's layer1 conv3: 70% of those executed),
// so every step is one instruction on the FP32/integer pipes:
//   acc -> float: I2FP (full rate on sm_90; I2F.S8 for bytes runs on the slow conversion pipe);
//   z byte j -> int32: a byte permute whose selector sign-extends (signedByte), then I2FP;
//   round: v + 1.5 * 2^23 rounds v to an integer, half to even (as __float2int_rn), and for v in
//     [-128, 127] the float's low byte is that integer's two's complement low byte (2^22 is a
//     multiple of 256); three byte permutes pack four of them.
// The same value as clipping, rounding, then saturating: the bounds -128 and 127 are integers.
template <int J>
__device__ __forceinline__ int signedByte(unsigned w) {  // byte J of w, sign-extended (PTX prmt, msb of a nibble)
  constexpr unsigned kSel = J | (8u | J) << 4 | (8u | J) << 8 | (8u | J) << 12;
  unsigned r;
  asm("prmt.b32 %0, %1, 0, %2;" : "=r"(r) : "r"(w), "n"(kSel));
  return static_cast<int>(r);
}
__device__ __forceinline__ int signedByte(unsigned w, int j) {
  return j == 0 ? signedByte<0>(w) : j == 1 ? signedByte<1>(w) : j == 2 ? signedByte<2>(w) : signedByte<3>(w);
}
template <bool kZ>
__device__ __forceinline__ unsigned foldedWord(int4 a, const float (&mv)[4], const float (&bv)[4], unsigned zw,
                                               const IgemmEpilogue& e) {
  const int av[4] = {a.x, a.y, a.z, a.w};
  unsigned b[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    float v = fmaf(static_cast<float>(av[j]), mv[j], bv[j]);
    if (kZ) v = fmaf(static_cast<float>(signedByte(zw, j)), e.z_scale, v);
    v = fminf(fmaxf(v, e.qlo), e.qhi);
    b[j] = __float_as_uint(__fadd_rn(v, 12582912.f));
  }
  return packBytes(b[0], b[1], b[2], b[3]);
}

// BM x BN tile, WM x WN warps, kStages-deep cp.async pipeline; MINB: CTAs an SM must hold
// (__launch_bounds__; caps registers so that shallow memory-bound layers keep more loads in flight).
// A thread's output pixel (row of the A operand): its input window's corner and the offset of its
// image plus the thread's 16-byte chunk; ok false past the last pixel.
struct PixelRow {
  int ih0, iw0, off;
  bool ok;
};
// unit: a 1x1 layer of stride 1 without padding, whose pixel m is row m of x (no divisions).
__device__ __forceinline__ PixelRow pixelRow(int m, int m_total, const IgemmGeometry& g, int chunk, bool unit) {
  PixelRow p;
  p.ok = m < m_total;
  const int mm = p.ok ? m : 0;
  if (unit) {
    p.ih0 = p.iw0 = 0;
    p.off = mm * g.c + chunk * 16;
    return p;
  }
  const int ox = mm % g.ow;
  const int t = mm / g.ow;
  const int oy = t % g.oh;
  const int nb = t / g.oh;
  p.ih0 = oy * g.sh - g.ph;
  p.iw0 = ox * g.sw - g.pw;
  p.off = nb * g.h * g.w * g.c + chunk * 16;
  return p;
}

// A slice of the depth: its tap (fr, fs) and first channel. The loaders walk the slices in order
// (next), without the two divisions a slice index would take (ncu: on a 3x3 layer they cost more
// instructions than the slice's MMAs).
struct SliceAt {
  int fr = 0, fs = 0, c0 = 0;
  __device__ __forceinline__ void next(int c_pad, int kw) {
    c0 += kBK;
    if (c0 == c_pad) {
      c0 = 0;
      if (++fs == kw) {
        fs = 0;
        ++fr;
      }
    }
  }
};

// Queues a thread's 16-byte chunk of pixel row `row` of a slice into `buf` (zero fill for padding
// pixels, channels past C and rows past the last pixel).
__device__ __forceinline__ void loadPixelChunk(uint8_t* buf, int row, int chunk, const PixelRow& p, const SliceAt& sl,
                                               const IgemmGeometry& g, const int8_t* x, bool l1) {
  const int ih = p.ih0 + sl.fr * g.dh, iw = p.iw0 + sl.fs * g.dw;
  const bool ok = p.ok && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                  static_cast<unsigned>(iw) < static_cast<unsigned>(g.w) && sl.c0 + chunk * 16 < g.c;
  cpAsync16(buf + swizzle(row, chunk), ok ? x + p.off + (ih * g.w + iw) * g.c + sl.c0 : x, ok, l1);
}

// One 64-deep slice of a warp's MT x NT m16n8 tiles: rows a_row0.. of the pixel slice a_s,
// channels b_row0.. of the weight slice b_s (both 64-byte swizzled rows).
template <int MT, int NT>
__device__ __forceinline__ void mmaSlice(int (&acc)[MT][NT][4], const uint8_t* a_s, const uint8_t* b_s, int a_row0,
                                         int b_row0, int lane) {
#pragma unroll
  for (int ks = 0; ks < 2; ++ks) {  // two 32-deep MMA steps a slice
    uint32_t af[MT][4], bf[NT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      // x4: rows 0-15 of the m-tile, chunk 2ks (lanes 0-15) and 2ks+1 (lanes 16-31): a0..a3.
      const int row = a_row0 + mt * 16 + (lane & 15);
      ldmatrixX4(af[mt], a_s + swizzle(row, ks * 2 + (lane >> 4)));
    }
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      // x4: channels 0-7 (chunks 2ks, 2ks+1) then 8-15: b0, b1 of two n-tiles.
      const int row = b_row0 + np * 16 + (lane & 7) + ((lane >> 4) << 3);
      uint32_t r[4];
      ldmatrixX4(r, b_s + swizzle(row, ks * 2 + ((lane >> 3) & 1)));
      bf[2 * np][0] = r[0];
      bf[2 * np][1] = r[1];
      bf[2 * np + 1][0] = r[2];
      bf[2 * np + 1][1] = r[3];
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mmaS8(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
  }
}

// Writes a warp's accumulators (m16n8 tile (mt, nt) holds rows lane/4 (+8), columns 2 (lane%4)
// (+1)) into an int32 tile with row pitch ldc, from row0 / col0.
template <int MT, int NT>
__device__ __forceinline__ void stageAcc(int* sc, int ldc, int row0, int col0, const int (&acc)[MT][NT][4], int lane) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int row = row0 + mt * 16 + (lane >> 2);
      const int col = col0 + nt * 8 + (lane & 3) * 2;
      *reinterpret_cast<int2*>(sc + row * ldc + col) = make_int2(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<int2*>(sc + (row + 8) * ldc + col) = make_int2(acc[mt][nt][2], acc[mt][nt][3]);
    }
}

// QConv's float epilogue for four channels of one pixel (element o of y): fp32 or fp16 y.
__device__ __forceinline__ void storeFourFloat(void* y, size_t o, int4 a, const float (&mv)[4], const float (&bv)[4],
                                               unsigned zw, const IgemmEpilogue& e) {
  const int av[4] = {a.x, a.y, a.z, a.w};
  float v[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) v[j] = exactValue(av[j], mv[j], bv[j], static_cast<int8_t>((zw >> (8 * j)) & 0xFFu), e);
  if (e.y_half) {  // four halves, one 8-byte store
    const __half2 lo = __floats2half2_rn(v[0], v[1]), hi = __floats2half2_rn(v[2], v[3]);
    uint2 packed;
    packed.x = *reinterpret_cast<const uint32_t*>(&lo);
    packed.y = *reinterpret_cast<const uint32_t*>(&hi);
    *reinterpret_cast<uint2*>(static_cast<__half*>(y) + o) = packed;
  } else {
    *reinterpret_cast<float4*>(static_cast<float*>(y) + o) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// The per-channel constants of four channels from c.
__device__ __forceinline__ void loadFour(const float* p, int c, float (&v)[4]) {
  const float4 f = *reinterpret_cast<const float4*>(p + c);
  v[0] = f.x;
  v[1] = f.y;
  v[2] = f.z;
  v[3] = f.w;
}

// The epilogue of a BM x BN tile staged in shared memory (sc, int32, row pitch LDC; sz, the
// residual's int8 tile): four channels a thread, the same four for every row it takes, so a warp
// covers 128 bytes of a row of int8 y (and of z), one coalesced line. kInt8: int8 y (foldedWord),
// else float (storeFourFloat, which reads z where e.z is set); kZ: int8 y with the residual.
// The rows are walked by pointer steps.
template <bool kInt8, bool kZ, int BM, int BN, int kThreads, int LDC, bool kRaw = false>
__device__ __forceinline__ void epilogueRows(void* y, const int* sc, const uint8_t* sz, int m0, int n0, int m_total,
                                             int channels, const IgemmEpilogue& e, int tid) {
  constexpr int kVecs = BN / 4, kStep = kThreads / kVecs;
  const int cv = tid % kVecs;
  const int co = n0 + cv * 4;
  if (co >= channels) return;
  float mv[4], bv[4];
  loadFour(e.mult, co, mv);
  loadFour(e.bias, co, bv);
  const int rows = min(BM, m_total - m0);  // the tile's pixels
  int row = tid / kVecs;
  const int* a_ptr = sc + row * LDC + cv * 4;
  const uint8_t* z_ptr = sz + row * BN + cv * 4;
  size_t o = static_cast<size_t>(m0 + row) * channels + co;
  const size_t o_step = static_cast<size_t>(kStep) * channels;
  for (; row < rows; row += kStep, a_ptr += kStep * LDC, z_ptr += kStep * BN, o += o_step) {
    const bool with_z = kInt8 ? kZ : e.z != nullptr;
    const unsigned zw = with_z ? *reinterpret_cast<const unsigned*>(z_ptr) : 0u;
    const int4 a = *reinterpret_cast<const int4*>(a_ptr);
    if (kRaw)  // QRT_CUDA_IGEMM_PROBE=1 (IgemmEpilogue::probe)
      *reinterpret_cast<unsigned*>(static_cast<int8_t*>(y) + o) =
          packBytes(a.x, a.y, a.z, a.w);
    else if (kInt8)
      *reinterpret_cast<unsigned*>(static_cast<int8_t*>(y) + o) = foldedWord<kZ>(a, mv, bv, zw, e);
    else
      storeFourFloat(y, o, a, mv, bv, zw, e);
  }
}

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
struct IgemmConfig {
  static constexpr int kBM = BM, kBN = BN;
  static constexpr int kThreads = WM * WN * 32;
  static constexpr int kWarpM = BM / WM, kWarpN = BN / WN;
  static constexpr int kMTiles = kWarpM / 16, kNTiles = kWarpN / 8;
  static constexpr int kAChunks = BM * 4 / kThreads, kBChunks = BN * 4 / kThreads;  // 16-byte loads a thread a slice
  static constexpr int kLdc = BN + 8;  // int32 row pitch of the staged tile (64-bit stores conflict-free)
  static constexpr size_t kPipeBytes = static_cast<size_t>(kStages) * (BM + BN) * kBK;
  static constexpr size_t kEpiBytes = static_cast<size_t>(BM) * kLdc * 4;
  static constexpr size_t kSmem = kPipeBytes > kEpiBytes ? kPipeBytes : kEpiBytes;
  static constexpr size_t kZBytes = static_cast<size_t>(BM) * BN;  // the residual's tile, after kSmem
  static_assert(kMTiles >= 1 && kNTiles % 2 == 0, "warp tile: 16 rows by 16 columns at least");
  static_assert(kAChunks >= 1 && kBChunks >= 1 && BM * 4 % kThreads == 0 && BN * 4 % kThreads == 0, "loader split");
  static_assert(kThreads % (BN / 4) == 0, "epilogue: a thread keeps its channels");
};

// A CTA's loads of one output tile's slices: its threads' pixel rows (A) and channel rows (B),
// set by begin() for the tile at (m0, n0), and the next slice to load (walked in order).
template <class Cfg>
struct TileLoader {
  static constexpr int BM = Cfg::kBM, BN = Cfg::kBN;
  PixelRow a_rows[Cfg::kAChunks];
  const int8_t* b_src[Cfg::kBChunks];
  SliceAt sl;
  int slice = 0;
  bool l1 = false;  // x through L1 (IgemmEpilogue::x_l1; only where a pixel is read by more than one tap)

  __device__ __forceinline__ void begin(int m0, int n0, int m_total, const IgemmGeometry& g, const int8_t* w, int wrow,
                                        bool unit, bool x_l1, int tid) {
    l1 = x_l1 && g.kh * g.kw > 1;
    const int chunk = tid & 3;
#pragma unroll
    for (int i = 0; i < Cfg::kAChunks; ++i)
      a_rows[i] = pixelRow(m0 + (tid >> 2) + i * (Cfg::kThreads / 4), m_total, g, chunk, unit);
#pragma unroll
    for (int i = 0; i < Cfg::kBChunks; ++i) {
      const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
      b_src[i] = w + static_cast<size_t>(n0 + row) * wrow + chunk * 16;
    }
    sl = SliceAt{};
    slice = 0;
  }
  // Queues the next slice into pipeline stage `stage` (sa, sb: the stages' bases).
  __device__ __forceinline__ void load(uint8_t* sa, uint8_t* sb, int stage, const IgemmGeometry& g, const int8_t* x,
                                       int c_pad, int tid) {
    const int chunk = tid & 3;
#pragma unroll
    for (int i = 0; i < Cfg::kAChunks; ++i)
      loadPixelChunk(sa + stage * BM * kBK, (tid >> 2) + i * (Cfg::kThreads / 4), chunk, a_rows[i], sl, g, x, l1);
    uint8_t* b_dst = sb + stage * BN * kBK;
#pragma unroll
    for (int i = 0; i < Cfg::kBChunks; ++i) {
      const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
      cpAsync16(b_dst + swizzle(row, chunk), b_src[i] + slice * kBK, true);
    }
    sl.next(c_pad, g.kw);
    ++slice;
  }
};

// Byte offset of 16-byte chunk c16 of row `row` in an int8 tile of BN-byte rows: plain, or (kSwz)
// with the chunk XORed by the row's place among the 128 / BN * 8 rows that share the 32 banks, so
// the 8 rows a warp's accumulator fragment spans (lane / 4) fall in 8 distinct 16-byte bank groups
// (the register epilogue's 2-byte accesses, conflict-free); the 16-byte row walks stay so too.
template <int BN, bool kSwz>
__device__ __forceinline__ int tileChunk(int row, int c16) {
  if constexpr (!kSwz) return row * BN + c16 * 16;
  constexpr int kChunks = BN / 16, kRowsPerLine = 128 / BN;
  static_assert(kChunks * kRowsPerLine == 8, "rows of 64 or 128 bytes");
  return row * BN + ((c16 ^ ((row / kRowsPerLine) % kChunks)) << 4);
}

// Queues the residual's BM x BN tile at (m0, n0) into sz (zeros past the last pixel or channel);
// kSwz: tileChunk's swizzled layout.
template <int BM, int BN, int kThreads, bool kSwz = false>
__device__ __forceinline__ void loadResidualTile(uint8_t* sz, const IgemmEpilogue& e, int m0, int n0, int m_total,
                                                 int channels, int tid) {
  constexpr int kRowChunks = BN / 16;
  for (int i = tid; i < BM * kRowChunks; i += kThreads) {
    const int row = i / kRowChunks, c16 = i - row * kRowChunks;
    const int m = m0 + row, co = n0 + c16 * 16;
    const bool ok = m < m_total && co < channels;
    cpAsync16(sz + tileChunk<BN, kSwz>(row, c16), ok ? e.z + static_cast<size_t>(m) * channels + co : e.z, ok);
  }
}

// The epilogue of the staged tile at (m0, n0) for y's type and the residual.
template <class Cfg>
__device__ __forceinline__ void epilogueTile(void* y, const int* sc, const uint8_t* sz, int m0, int n0, int m_total,
                                             const IgemmGeometry& g, const IgemmEpilogue& e, int tid) {
  constexpr int BM = Cfg::kBM, BN = Cfg::kBN, T = Cfg::kThreads, L = Cfg::kLdc;
  if (e.probe & 1)
    epilogueRows<true, false, BM, BN, T, L, true>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
  else if (!e.y_int8)
    epilogueRows<false, false, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
  else if (e.z || e.ds_x)
    epilogueRows<true, true, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
  else
    epilogueRows<true, false, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
}

// The downsample's epilogue (IgemmEpilogue::ds_x): the staged int32 tile of its product (sc) as the
// int8 residual tile sz (row pitch BN), four channels a thread as epilogueRows walks them: rows past
// the last pixel and channels past the last are not written (nor read by y's epilogue).
template <int BM, int BN, int kThreads, int LDC>
__device__ __forceinline__ void residualTileFromAcc(uint8_t* sz, const int* sc, int m0, int n0, int m_total,
                                                    int channels, const IgemmEpilogue& e, int tid) {
  constexpr int kVecs = BN / 4, kStep = kThreads / kVecs;
  const int cv = tid % kVecs;
  const int co = n0 + cv * 4;
  if (co >= channels) return;
  float mv[4], bv[4];
  loadFour(e.ds_mult, co, mv);
  loadFour(e.ds_bias, co, bv);
  IgemmEpilogue plain;  // no residual, no activation: the saturation alone
  plain.qlo = -128.f;
  plain.qhi = 127.f;
  const int rows = min(BM, m_total - m0);
  for (int row = tid / kVecs; row < rows; row += kStep) {
    const int4 a = *reinterpret_cast<const int4*>(sc + row * LDC + cv * 4);
    *reinterpret_cast<unsigned*>(sz + row * BN + cv * 4) = foldedWord<false>(a, mv, bv, 0u, plain);
  }
}

// The wide int8 epilogue (kWide tiles, 36-37; int8 y): sixteen channels a thread where epilogueRows
// takes four. Why: on the one-slice residual 1x1 layers, whose tiles issue most of their instructions
// in the epilogue, ncu (session 11, H200, ResNet-50 INT8 b256, tile 28 on layer1 conv3) counted ~20
// instructions an output value, 76% of issue slots busy, DRAM at half its bandwidth. Per row a
// thread here reads its sixteen int32 in four 16-byte loads and z's sixteen bytes in one, and writes
// y's in one 16-byte store (epilogueRows: 4 + 4 + 4 bytes per four values, and the pointer steps); and
// the clamp is a saturating FMA: with L, H the activation's bounds rounded to integers (clamping to
// them then rounding equals rounding then clamping to lo, hi: rounding is monotone),
//   t = sat(acc * m / 256 + (b - L) / 256 (+ z * z_scale / 256)),  q = min(t, (H - L) / 256) * 256 + L,
// the last an FMA onto 1.5 * 2^23 + L that rounds to an integer (half to even), whose low byte is q
// (foldedWord's magic number). Scaling by 2^-8 is exact, so q is foldedWord's but for the one rounding
// of b - L (none where b is an integer multiple of its ulp at L's scale, as the exact tests' b = 0):
// four instructions a value for the folding and the clamp where foldedWord takes five. Measured
// (session 11, H200): exact, and 3-10% slower than epilogueRows' tiles 28-29 on every 1x1 layer of
// ResNet-50 at batch 256: those layers are not bound by the epilogue's instruction count (opt-in).
//
// The int32 tile's layout (stageWide writes it): foldedWord's rows of pitch LDC words, 16-byte chunk c
// of a row at chunk c ^ ((c >> 3) & 3) (wideChunk). A thread's four loads of a row read chunks 4k + i
// (k: its place among the row's BN / 16 threads); unswizzled, the eight threads of a load phase would
// hit two bank groups (4-way conflicts), swizzled they hit eight. The staging's 8-byte stores of an
// accumulator fragment (two chunks of eight rows) keep their two wavefronts: the XOR is the same for a
// column in every row.
__device__ __forceinline__ int wideChunk(int c) { return c ^ ((c >> 3) & 3); }
// The word offset of column col of row row in the wide int32 tile.
template <int LDC>
__device__ __forceinline__ int wideAt(int row, int col) {
  return row * LDC + (wideChunk(col >> 2) << 2) + (col & 3);
}

template <bool kZ, int BM, int BN, int kThreads, int LDC>
__device__ __forceinline__ void epilogueWide(int8_t* y, const int* sc, const uint8_t* sz, int m0, int n0, int m_total,
                                             int channels, const IgemmEpilogue& e, int tid) {
  constexpr int kRowThreads = BN / 16, kStep = kThreads / kRowThreads;
  static_assert(kThreads % kRowThreads == 0 && BM % kStep == 0, "whole rows a pass");
  const int k = tid % kRowThreads, co = n0 + k * 16;
  if (co >= channels) return;  // channels: a multiple of 16
  const float lo = rintf(e.qlo), hi = rintf(e.qhi);
  const float top = (hi - lo) * (1.f / 256), magic = 12582912.f + lo, zs = e.z_scale * (1.f / 256);
  float mv[16], bv[16];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float4 m4 = *reinterpret_cast<const float4*>(e.mult + co + 4 * q);
    const float4 b4 = *reinterpret_cast<const float4*>(e.bias + co + 4 * q);
    const float mm[4] = {m4.x, m4.y, m4.z, m4.w}, bb[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      mv[4 * q + j] = mm[j] * (1.f / 256);
      bv[4 * q + j] = (bb[j] - lo) * (1.f / 256);
    }
  }
  const int rows = min(BM, m_total - m0);
#pragma unroll
  for (int pass = 0; pass < BM / kStep; ++pass) {
    const int row = pass * kStep + tid / kRowThreads;
    if (row >= rows) break;
    uint4 zq = make_uint4(0, 0, 0, 0);
    if (kZ) zq = *reinterpret_cast<const uint4*>(sz + row * BN + k * 16);
    const unsigned zw[4] = {zq.x, zq.y, zq.z, zq.w};
    unsigned out[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int4 a = *reinterpret_cast<const int4*>(sc + row * LDC + (wideChunk(4 * k + q) << 2));
      const int av[4] = {a.x, a.y, a.z, a.w};
      unsigned b[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float u = fmaf(static_cast<float>(av[j]), mv[4 * q + j], bv[4 * q + j]);
        if (kZ) u = fmaf(static_cast<float>(signedByte(zw[q], j)), zs, u);
        b[j] = __float_as_uint(fmaf(fminf(__saturatef(u), top), 256.f, magic));
      }
      out[q] = packBytes(b[0], b[1], b[2], b[3]);
    }
    *reinterpret_cast<uint4*>(y + static_cast<size_t>(m0 + row) * channels + co) =
        make_uint4(out[0], out[1], out[2], out[3]);
  }
}

template <class Cfg>
__device__ __forceinline__ void zeroAcc(int (&acc)[Cfg::kMTiles][Cfg::kNTiles][4]) {
#pragma unroll
  for (int i = 0; i < Cfg::kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < Cfg::kNTiles; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0;
}

__device__ __forceinline__ bool unitLayer(const IgemmGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.oh == g.h && g.ow == g.w;
}

// A tiled kernel's CTA (output-channel tiles vary fastest, so the CTAs that read the same pixels
// run together, L2): its tile at (m0, n0) and the depth's slices of 64 channels of one tap.
struct TileAt {
  int m0, n0, slices, c_pad;
  int probe;  // IgemmEpilogue::probe: 2 no MMAs, 4 no loads of x and w (measurement only)
};

// The persistent kernels' CTA (igemmPersistentKernel, wgmmaPersistentKernel): the tiles first,
// first + step, ... (step = gridDim.x) of this CTA as one stream of slices, and the loader that
// walks it ahead of the MMAs across tile boundaries, each tile's residual (e.z) queued into
// ring slot (its count among the CTA's tiles) % kStages with the tile's first slice.
template <class Cfg, int kStages, bool kSwzZ>
struct PersistentStream {
  int first, step, n_tiles, m_total, slices, c_pad, wrow, total;
  bool unit;
  TileLoader<Cfg> ld;
  int ld_tile, ld_count;  // the tile being loaded, and how many of the CTA's tiles came before it

  __device__ __forceinline__ PersistentStream(const IgemmGeometry& g, int tiles, int n_tiles_, int m_total_)
      : first(static_cast<int>(blockIdx.x)), step(static_cast<int>(gridDim.x)), n_tiles(n_tiles_), m_total(m_total_) {
    const int cblocks = (g.c + kBK - 1) / kBK;
    slices = g.kh * g.kw * cblocks;
    c_pad = cblocks * kBK;
    wrow = slices * kBK;
    unit = unitLayer(g);
    total = first < tiles ? ((tiles - 1 - first) / step + 1) * slices : 0;  // this CTA's slices, all tiles
    ld.slice = slices;  // so that the first load begins tile `first`
    ld_tile = first - step;
    ld_count = -1;
  }
  __device__ __forceinline__ int m0(int tile) const { return (tile / n_tiles) * Cfg::kBM; }
  __device__ __forceinline__ int n0(int tile) const { return (tile % n_tiles) * Cfg::kBN; }
  // Queues the stream's next slice into pipeline stage `stage` (and, at a tile's first slice, its
  // residual into the ring `ring` of kStages BM x BN int8 tiles).
  __device__ __forceinline__ void loadNext(uint8_t* sa, uint8_t* sb, uint8_t* ring, int stage, const IgemmGeometry& g,
                                           const IgemmEpilogue& e, const int8_t* x, const int8_t* w, int tid) {
    if (ld.slice == slices) {
      ld_tile += step;
      ++ld_count;
      ld.begin(m0(ld_tile), n0(ld_tile), m_total, g, w, wrow, unit, e.x_l1, tid);
      if (e.z)
        loadResidualTile<Cfg::kBM, Cfg::kBN, Cfg::kThreads, kSwzZ>(ring + (ld_count % kStages) * Cfg::kBM * Cfg::kBN, e,
                                                                  m0(ld_tile), n0(ld_tile), m_total, g.m, tid);
    }
    ld.load(sa, sb, stage, g, x, c_pad, tid);
  }
};

// Starts a tiled kernel's CTA: the loader begun, the residual's tile queued into sz with the first
// slice's group (its reads overlap the depth loop; the epilogue finds it there), and the first
// kAhead slices queued, a cp.async group each. kAhead: how many slices the loads run ahead of the
// MMAs, kStages - 1 where a slice's MMAs are done before the next slice's barrier; kStages - 2
// where they may still run then (the pipelined wgmma tiles: the stage reloaded at slice kt is
// slice kt - 2's, whose MMAs every warpgroup has waited for before that barrier).
template <class Cfg, int kStages, int kAhead = kStages - 1, bool kSwzZ = false>
__device__ __forceinline__ TileAt startTile(TileLoader<Cfg>& ld, uint8_t* sa, uint8_t* sb, uint8_t* sz,
                                            const int8_t* x, const int8_t* w, const IgemmGeometry& g,
                                            const IgemmEpilogue& e, int m_total, int n_tiles, int tid) {
  TileAt t;
  t.m0 = static_cast<int>(blockIdx.x / n_tiles) * Cfg::kBM;
  t.n0 = static_cast<int>(blockIdx.x % n_tiles) * Cfg::kBN;
  const int cblocks = (g.c + kBK - 1) / kBK;
  t.slices = g.kh * g.kw * cblocks;
  t.c_pad = cblocks * kBK;
  t.probe = e.probe;
  ld.begin(t.m0, t.n0, m_total, g, w, t.slices * kBK, unitLayer(g), e.x_l1, tid);
  if (e.z) loadResidualTile<Cfg::kBM, Cfg::kBN, Cfg::kThreads, kSwzZ>(sz, e, t.m0, t.n0, m_total, g.m, tid);
  static_assert(kAhead >= 1 && kAhead < kStages, "the loads run 1 to kStages - 1 slices ahead");
#pragma unroll
  for (int st = 0; st < kAhead; ++st) {
    if (st < t.slices && !(t.probe & 4)) ld.load(sa, sb, st, g, x, t.c_pad, tid);
    cpAsyncCommit();
  }
  return t;
}

// The depth loop's step before slice kt's MMAs: waits for its group, then (after `landed`, which
// the wgmma kernel uses to fence for the async proxy) a barrier (slice kt landed for every thread,
// slice kt + kAhead - kStages's stage is free), then queues slice kt + kAhead into it.
template <class Cfg, int kStages, int kAhead = kStages - 1, class Landed>
__device__ __forceinline__ void nextSlice(TileLoader<Cfg>& ld, uint8_t* sa, uint8_t* sb, int kt, const TileAt& t,
                                          const IgemmGeometry& g, const int8_t* x, int tid, Landed landed) {
  cpAsyncWait<kAhead - 1>();  // groups committed: kAhead + kt; slice kt's is done
  landed();
  __syncthreads();
  const int next = kt + kAhead;
  if (next < t.slices && !(t.probe & 4)) ld.load(sa, sb, next % kStages, g, x, t.c_pad, tid);
  cpAsyncCommit();
}

// Ends a tiled kernel's CTA once its depth loop is done: `stage(sc)` writes the accumulators into
// the int32 tile at the start of shared memory (the pipeline's, free once every warp is past the
// barrier), then the epilogue of the tile with the residual's tile in sz.
template <class Cfg, class Stage>
__device__ __forceinline__ void finishTile(void* y, uint8_t* smem, const uint8_t* sz, const TileAt& t, int m_total,
                                           const IgemmGeometry& g, const IgemmEpilogue& e, int tid, Stage stage) {
  cpAsyncWait<0>();
  __syncthreads();  // every warp is done with the pipeline's shared memory
  int* sc = reinterpret_cast<int*>(smem);
  stage(sc);
  __syncthreads();
  epilogueTile<Cfg>(y, sc, sz, t.m0, t.n0, m_total, g, e, tid);
}

// After the downsample's product (IgemmEpilogue::ds_x) of the tile at t: `stage(sc)` writes its
// accumulators into the int32 tile, its int8 epilogue goes into the residual tile sz, and a barrier
// frees the staged tile for the layer's own pipeline.
template <class Cfg, class Stage>
__device__ __forceinline__ void downsampleTile(uint8_t* smem, uint8_t* sz, const TileAt& t, int m_total, int channels,
                                               const IgemmEpilogue& e, int tid, Stage stage) {
  cpAsyncWait<0>();
  __syncthreads();  // every warp is done with the pipeline's shared memory
  int* sc = reinterpret_cast<int*>(smem);
  stage(sc);
  __syncthreads();
  residualTileFromAcc<Cfg::kBM, Cfg::kBN, Cfg::kThreads, Cfg::kLdc>(sz, sc, t.m0, t.n0, m_total, channels, e, tid);
  __syncthreads();  // the staged tile is read (the pipeline reuses it) and z is in sz
}

// A tiled kernel's CTA after its setup: (with kDs) the downsample's product and its z tile, then
// the layer's own product and epilogue. `product(t, geometry, x)` runs the depth loop of tile t
// into the kernel's accumulators; `stage(sc)` writes them into the int32 tile. Shared memory as
// startTile's: the pipeline's stages from smem (B after kStages A stages), the residual tile at
// Cfg::kSmem.
// `wide` (a Stage, or nullptr): int8 y (without QRT_CUDA_IGEMM_PROBE) through the wide epilogue,
// `wide(sc)` staging the accumulators in its layout (epilogueWide).
template <class Cfg, int kStages, bool kDs, int kAhead = kStages - 1, class Product, class Stage,
          class Wide = decltype(nullptr)>
__device__ __forceinline__ void runTile(TileLoader<Cfg>& ld, uint8_t* smem, const int8_t* x, const int8_t* w, void* y,
                                        const IgemmGeometry& g, const IgemmEpilogue& e, int m_total, int n_tiles,
                                        int tid, Product product, Stage stage, Wide wide = nullptr) {
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * Cfg::kBM * kBK;
  uint8_t* sz = smem + Cfg::kSmem;
  if constexpr (kDs) {  // the block's downsample first (IgemmEpilogue::ds_x): z into the residual tile
    const TileAt t2 =
        startTile<Cfg, kStages, kAhead>(ld, sa, sb, sz, e.ds_x, e.ds_w, e.ds, IgemmEpilogue{}, m_total, n_tiles, tid);
    product(t2, e.ds, e.ds_x);
    downsampleTile<Cfg>(smem, sz, t2, m_total, g.m, e, tid, stage);
  }
  const TileAt t = startTile<Cfg, kStages, kAhead>(ld, sa, sb, sz, x, w, g, e, m_total, n_tiles, tid);
  product(t, g, x);
  if constexpr (!std::is_same_v<Wide, decltype(nullptr)>) {
    if (e.y_int8 && !e.probe) {
      cpAsyncWait<0>();
      __syncthreads();  // every warp is done with the pipeline's shared memory
      int* sc = reinterpret_cast<int*>(smem);
      wide(sc);
      __syncthreads();
      constexpr int BM = Cfg::kBM, BN = Cfg::kBN, T = Cfg::kThreads, L = Cfg::kLdc;
      if (e.z || kDs)
        epilogueWide<true, BM, BN, T, L>(static_cast<int8_t*>(y), sc, sz, t.m0, t.n0, m_total, g.m, e, tid);
      else
        epilogueWide<false, BM, BN, T, L>(static_cast<int8_t*>(y), sc, sz, t.m0, t.n0, m_total, g.m, e, tid);
      return;
    }
  }
  finishTile<Cfg>(y, smem, sz, t, m_total, g, e, tid, stage);
}

// Programmatic dependent launch (PDL; compute capability 9.0 and up; on by default since session 8,
// QRT_CUDA_PDL=off turns it off). The implicit-GEMM kernels are launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (launchKernel), so one may be launched while
// the kernel before it on the stream still runs; each starts with pdlStart: it lets the next kernel
// launch as soon as all of its own CTAs are resident (griddepcontrol.launch_dependents), then waits
// for the kernel before it to complete with its memory visible (griddepcontrol.wait) before any
// global access. The launch of a layer's kernel and its CTAs' set-up then overlap the layer
// before's last wave instead of following it (TensorRT launches its kernels so on Hopper). Without
// the attribute griddepcontrol.wait returns at once: the kernels run as before. A kernel that is
// not launched so (cuDNN's, cuBLASLt's) keeps the stream's order on both sides. Measured on an H100
// (session 8, ResNet-50 INT8 at batch 256, CUDA graph): 4.671 -> 4.647 ms; CudaQres.
// ProgrammaticDependentLaunch (kernel chains replayed from a CUDA graph) passed.
__device__ __forceinline__ void pdlStart() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

// Whether launchKernel uses PDL: on a device of compute capability 9.0 or more unless
// QRT_CUDA_PDL=off; both read once per process (the first device queried).
inline bool pdlOn() {
  static const bool on = [] {
    const char* v = std::getenv("QRT_CUDA_PDL");
    if (v && std::strcmp(v, "off") == 0) return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 9;
  }();
  return on;
}

// kernel<<<grid, block, smem, s>>>(args...), with PDL where pdlOn() (the kernel starts with pdlStart).
template <typename... P, typename... A>
void launchKernel(void (*kernel)(P...), unsigned grid, unsigned block, size_t smem, cudaStream_t s, A&&... args) {
  if (!pdlOn()) {
    kernel<<<grid, block, smem, s>>>(std::forward<A>(args)...);
    return;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(grid);
  cfg.blockDim = dim3(block);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

// Over 48 KB of dynamic shared memory needs the opt-in, once per kernel and device.
template <typename K>
void optIn(K* kernel, size_t bytes, std::atomic<uint64_t>& opted) {
  int dev = 0;
  cudaGetDevice(&dev);
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (!(opted.load() & bit)) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
    opted.fetch_or(bit);
  }
}

// One wave of a persistent kernel over g's BM x BN tiles: the CTAs of `threads` threads and `smem`
// bytes every SM holds at once, at most one a tile; 0 where the device queries fail.
template <typename K>
int oneWaveGrid(K* kernel, int threads, size_t smem, const IgemmGeometry& g, int bm, int bn) {
  int dev = 0, sms = 0, per_sm = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem) != cudaSuccess || per_sm < 1)
    return 0;
  const int64_t tiles = int64_t{(g.n * g.oh * g.ow + bm - 1) / bm} * ((g.m + bn - 1) / bn);
  return static_cast<int>(std::min<int64_t>(tiles, int64_t{per_sm} * sms));
}

}  // namespace qrt::cuda::launch::igemm_detail
