// qrt's INT8 implicit-GEMM convolution: see qconv_igemm_launch.h for the scheme.
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>

#include "backends/cuda/qconv_igemm_launch.h"

namespace qrt::cuda::launch {

namespace {

constexpr int kBK = kIgemmDepth;  // bytes of a row of a slice: 4 chunks of 16

__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: nothing is read, the 16 bytes are zero-filled
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
  return __byte_perm(__byte_perm(b[0], b[1], 0x0040u), __byte_perm(b[2], b[3], 0x0040u), 0x5410u);
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
                                               const IgemmGeometry& g, const int8_t* x) {
  const int ih = p.ih0 + sl.fr * g.dh, iw = p.iw0 + sl.fs * g.dw;
  const bool ok = p.ok && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                  static_cast<unsigned>(iw) < static_cast<unsigned>(g.w) && sl.c0 + chunk * 16 < g.c;
  cpAsync16(buf + swizzle(row, chunk), ok ? x + p.off + (ih * g.w + iw) * g.c + sl.c0 : x, ok);
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
template <bool kInt8, bool kZ, int BM, int BN, int kThreads, int LDC>
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
    if (kInt8)
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

  __device__ __forceinline__ void begin(int m0, int n0, int m_total, const IgemmGeometry& g, const int8_t* w, int wrow,
                                        bool unit, int tid) {
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
      loadPixelChunk(sa + stage * BM * kBK, (tid >> 2) + i * (Cfg::kThreads / 4), chunk, a_rows[i], sl, g, x);
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

// Queues the residual's BM x BN tile at (m0, n0) into sz (zeros past the last pixel or channel).
template <int BM, int BN, int kThreads>
__device__ __forceinline__ void loadResidualTile(uint8_t* sz, const IgemmEpilogue& e, int m0, int n0, int m_total,
                                                 int channels, int tid) {
  constexpr int kRowChunks = BN / 16;
  for (int i = tid; i < BM * kRowChunks; i += kThreads) {
    const int row = i / kRowChunks, c16 = i - row * kRowChunks;
    const int m = m0 + row, co = n0 + c16 * 16;
    const bool ok = m < m_total && co < channels;
    cpAsync16(sz + row * BN + c16 * 16, ok ? e.z + static_cast<size_t>(m) * channels + co : e.z, ok);
  }
}

// The epilogue of the staged tile at (m0, n0) for y's type and the residual.
template <class Cfg>
__device__ __forceinline__ void epilogueTile(void* y, const int* sc, const uint8_t* sz, int m0, int n0, int m_total,
                                             const IgemmGeometry& g, const IgemmEpilogue& e, int tid) {
  constexpr int BM = Cfg::kBM, BN = Cfg::kBN, T = Cfg::kThreads, L = Cfg::kLdc;
  if (!e.y_int8)
    epilogueRows<false, false, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
  else if (e.z)
    epilogueRows<true, true, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
  else
    epilogueRows<true, false, BM, BN, T, L>(y, sc, sz, m0, n0, m_total, g.m, e, tid);
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

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
__global__ void __launch_bounds__(WM* WN * 32, MINB)
    igemmKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, void* __restrict__ y, IgemmGeometry g,
                IgemmEpilogue e, int m_total, int n_tiles) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  // Output-channel tiles vary fastest, so the CTAs that read the same pixels run together (L2).
  const int m0 = static_cast<int>(blockIdx.x / n_tiles) * BM;
  const int n0 = static_cast<int>(blockIdx.x % n_tiles) * BN;
  const int cblocks = (g.c + kBK - 1) / kBK;
  const int slices = g.kh * g.kw * cblocks;
  const int c_pad = cblocks * kBK;
  TileLoader<Cfg> ld;
  ld.begin(m0, n0, m_total, g, w, slices * kBK, unitLayer(g), tid);
  int acc[Cfg::kMTiles][Cfg::kNTiles][4];
  zeroAcc<Cfg>(acc);
  // The residual's tile goes to shared memory with the first slice's group, so its reads overlap
  // the depth loop and the epilogue finds it there.
  uint8_t* sz = smem + Cfg::kSmem;
  if (e.z) loadResidualTile<BM, BN, Cfg::kThreads>(sz, e, m0, n0, m_total, g.m, tid);
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < slices) ld.load(sa, sb, st, g, x, c_pad, tid);
    cpAsyncCommit();
  }
  for (int kt = 0; kt < slices; ++kt) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // slice kt landed for every thread; slice kt - 1's stage is free
    const int next = kt + kStages - 1;
    if (next < slices) ld.load(sa, sb, next % kStages, g, x, c_pad, tid);
    cpAsyncCommit();
    mmaSlice<Cfg::kMTiles, Cfg::kNTiles>(acc, sa + (kt % kStages) * BM * kBK, sb + (kt % kStages) * BN * kBK,
                                         wm * Cfg::kWarpM, wn * Cfg::kWarpN, lane);
  }
  cpAsyncWait<0>();
  __syncthreads();  // every warp is done with the pipeline's shared memory
  int* sc = reinterpret_cast<int*>(smem);
  stageAcc(sc, Cfg::kLdc, wm * Cfg::kWarpM, wn * Cfg::kWarpN, acc, lane);
  __syncthreads();
  epilogueTile<Cfg>(y, sc, sz, m0, n0, m_total, g, e, tid);
}

// The persistent form: a grid of about one wave of CTAs (igemmPersistentGrid), each walking the
// tiles blockIdx.x, + gridDim.x, ... as one stream of slices through the same cp.async
// pipeline, so the next tiles' first slices (and their residual tiles) load while a tile's last
// slices compute and its epilogue runs: a CTA no longer waits a DRAM round trip at its start,
// which on the shallow residual layers (1 to 4 slices a tile) is most of its life. The staged
// accumulators get their own shared memory (sc) and the residual tiles a ring of kStages
// (sz[j % kStages] for the CTA's j-th tile): the load of tile j + kStages's residual is queued
// in an iteration after tile j's epilogue and that iteration's barrier.
template <int BM, int BN, int WM, int WN, int kStages, int MINB>
__global__ void __launch_bounds__(WM* WN * 32, MINB)
    igemmPersistentKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, void* __restrict__ y,
                          IgemmGeometry g, IgemmEpilogue e, int m_total, int n_tiles, int tiles) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  int* sc = reinterpret_cast<int*>(smem + Cfg::kPipeBytes);
  uint8_t* sz = smem + Cfg::kPipeBytes + Cfg::kEpiBytes;  // kStages residual tiles (with z)
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  const int step = static_cast<int>(gridDim.x);
  const int first = static_cast<int>(blockIdx.x);
  if (first >= tiles) return;  // the whole CTA, before any barrier
  const int cblocks = (g.c + kBK - 1) / kBK;
  const int slices = g.kh * g.kw * cblocks;
  const int c_pad = cblocks * kBK, wrow = slices * kBK;
  const bool unit = unitLayer(g);
  const int total = ((tiles - 1 - first) / step + 1) * slices;  // this CTA's slices, all tiles

  // The loader runs kStages - 1 slices ahead of the MMAs, across tile boundaries.
  TileLoader<Cfg> ld;
  int ld_tile = first, ld_count = 0;  // the tile being loaded, and how many tiles before it
  auto loadNext = [&](int stage) {
    if (ld.slice == slices) {
      ld_tile += step;
      ++ld_count;
      ld.slice = 0;
    }
    if (ld.slice == 0) {
      const int m0 = (ld_tile / n_tiles) * BM, n0 = (ld_tile % n_tiles) * BN;
      ld.begin(m0, n0, m_total, g, w, wrow, unit, tid);
      if (e.z) loadResidualTile<BM, BN, Cfg::kThreads>(sz + (ld_count % kStages) * BM * BN, e, m0, n0, m_total, g.m, tid);
    }
    ld.load(sa, sb, stage, g, x, c_pad, tid);
  };
  ld.slice = slices;  // so that the first load begins tile `first`
  ld_tile = first - step;
  ld_count = -1;

  int acc[Cfg::kMTiles][Cfg::kNTiles][4];
  zeroAcc<Cfg>(acc);
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < total) loadNext(st);
    cpAsyncCommit();
  }
  int tile = first, count = 0, kt = 0;  // the tile the MMAs are on
  for (int it = 0; it < total; ++it) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // slice it (and its tile's residual) landed; it - 1's stage, sc and the ring are free
    const int next = it + kStages - 1;
    if (next < total) loadNext(next % kStages);
    cpAsyncCommit();
    mmaSlice<Cfg::kMTiles, Cfg::kNTiles>(acc, sa + (it % kStages) * BM * kBK, sb + (it % kStages) * BN * kBK,
                                         wm * Cfg::kWarpM, wn * Cfg::kWarpN, lane);
    if (++kt == slices) {  // the tile's last slice: its epilogue, while the next tiles load
      stageAcc(sc, Cfg::kLdc, wm * Cfg::kWarpM, wn * Cfg::kWarpN, acc, lane);
      zeroAcc<Cfg>(acc);
      __syncthreads();  // the staged tile is complete
      epilogueTile<Cfg>(y, sc, sz + (count % kStages) * BM * BN, (tile / n_tiles) * BM, (tile % n_tiles) * BN,
                        m_total, g, e, tid);
      kt = 0;
      tile += step;
      ++count;
    }
  }
  cpAsyncWait<0>();
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

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
void launchTile(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                cudaStream_t s) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  auto* kernel = igemmKernel<BM, BN, WM, WN, kStages, MINB>;
  static std::atomic<uint64_t> opted{0};
  optIn(kernel, Cfg::kSmem + Cfg::kZBytes, opted);
  const int m_total = g.n * g.oh * g.ow;
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  const size_t smem = Cfg::kSmem + (e.z ? Cfg::kZBytes : 0);
  kernel<<<blocks, Cfg::kThreads, smem, s>>>(x, w, y, g, e, m_total, n_tiles);
}

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
struct Persistent {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  static_assert(Cfg::kSmem <= Cfg::kPipeBytes + Cfg::kEpiBytes, "the tiled kernel's layout overlaps what this one splits");
  static constexpr auto kernel = igemmPersistentKernel<BM, BN, WM, WN, kStages, MINB>;
  // The pipeline, the staged tile, and with z a ring of kStages residual tiles.
  static size_t smem(bool z) { return Cfg::kPipeBytes + Cfg::kEpiBytes + (z ? kStages * Cfg::kZBytes : 0); }
  static void prepare() {
    static std::atomic<uint64_t> opted{0};
    optIn(kernel, smem(true), opted);
  }
  // One wave: the CTAs every SM holds at once, at most one a tile.
  static int grid(const IgemmGeometry& g, bool z) {
    prepare();
    int dev = 0, sms = 0, per_sm = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, Cfg::kThreads, smem(z)) != cudaSuccess ||
        per_sm < 1)
      return 0;
    const int64_t tiles = int64_t{(g.n * g.oh * g.ow + BM - 1) / BM} * ((g.m + BN - 1) / BN);
    return static_cast<int>(std::min<int64_t>(tiles, int64_t{per_sm} * sms));
  }
  static void launch(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                     int grid, cudaStream_t s) {
    const int m_total = g.n * g.oh * g.ow;
    const int n_tiles = (g.m + BN - 1) / BN;
    const int tiles = (m_total + BM - 1) / BM * n_tiles;
    kernel<<<grid, Cfg::kThreads, smem(e.z != nullptr), s>>>(x, w, y, g, e, m_total, n_tiles, tiles);
  }
};
using Persistent7 = Persistent<128, 64, 4, 2, 3, 2>;
using Persistent8 = Persistent<64, 64, 2, 2, 4, 3>;
using Persistent9 = Persistent<64, 128, 2, 4, 3, 2>;

}  // namespace

bool igemmFits(const IgemmGeometry& g) {
  const int64_t xs = int64_t{g.n} * g.h * g.w * g.c, ys = int64_t{g.n} * g.oh * g.ow * g.m;
  const int64_t m_tiles = (int64_t{g.n} * g.oh * g.ow + 63) / 64, n_tiles = (g.m + 63) / 64;
  return g.c > 0 && g.m > 0 && g.c % 16 == 0 && g.m % 16 == 0 && xs < (int64_t{1} << 31) &&
         ys < (int64_t{1} << 31) && m_tiles * n_tiles < (int64_t{1} << 31) && g.kh >= 1 && g.kw >= 1;
}

int igemmPersistentGrid(const IgemmGeometry& g, bool z, int tile) {
  if (!igemmFits(g)) return 0;
  switch (tile) {
    case 7: return Persistent7::grid(g, z);
    case 8: return Persistent8::grid(g, z);
    case 9: return Persistent9::grid(g, z);
    default: return 0;
  }
}

void qconvIgemm(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int grid, cudaStream_t s) {
  switch (tile) {
    case 0: return launchTile<128, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 1: return launchTile<128, 64, 4, 2, 4, 2>(x, w, y, g, e, s);
    case 2: return launchTile<64, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 3: return launchTile<64, 64, 2, 2, 4, 4>(x, w, y, g, e, s);
    // Two stages and more CTAs an SM: for shallow (K <= 128 deep), memory-bound layers.
    case 4: return launchTile<128, 64, 4, 2, 2, 3>(x, w, y, g, e, s);
    case 5: return launchTile<64, 128, 2, 4, 2, 3>(x, w, y, g, e, s);
    case 7: return Persistent7::launch(x, w, y, g, e, grid, s);
    case 8: return Persistent8::launch(x, w, y, g, e, grid, s);
    case 9: return Persistent9::launch(x, w, y, g, e, grid, s);
    default: return launchTile<64, 64, 2, 2, 2, 6>(x, w, y, g, e, s);  // 6
  }
}

}  // namespace qrt::cuda::launch
