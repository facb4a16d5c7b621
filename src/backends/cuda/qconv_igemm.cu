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

// Int8 output, constants folded by 1/y_scale (IgemmEpilogue): two FMAs, the activation, round
// half to even, saturate. The accumulators are integers and the constants finite: no NaN.
__device__ __forceinline__ unsigned foldedByte(int acc, float mult, float bias, int zq, const IgemmEpilogue& e) {
  float v = fmaf(static_cast<float>(acc), mult, bias);
  if (e.z) v = fmaf(static_cast<float>(zq), e.z_scale, v);
  if (e.act == QAct::kRelu) v = fmaxf(v, 0.f);
  else if (e.act == QAct::kClip) v = fminf(fmaxf(v, e.lo), e.hi);
  const int r = min(max(__float2int_rn(v), -128), 127);
  return static_cast<unsigned>(r) & 0xFFu;
}

// BM x BN tile, WM x WN warps, kStages-deep cp.async pipeline; MINB: CTAs an SM must hold
// (__launch_bounds__; caps registers so that shallow memory-bound layers keep more loads in flight).
// A thread's output pixel (row of the A operand): its input window's corner and the offset of its
// image plus the thread's 16-byte chunk; ok false past the last pixel.
struct PixelRow {
  int ih0, iw0, off;
  bool ok;
};
__device__ __forceinline__ PixelRow pixelRow(int m, int m_total, const IgemmGeometry& g, int chunk) {
  PixelRow p;
  p.ok = m < m_total;
  const int mm = p.ok ? m : 0;
  const int ox = mm % g.ow;
  const int t = mm / g.ow;
  const int oy = t % g.oh;
  const int nb = t / g.oh;
  p.ih0 = oy * g.sh - g.ph;
  p.iw0 = ox * g.sw - g.pw;
  p.off = nb * g.h * g.w * g.c + chunk * 16;
  return p;
}

// Slice `slice` of the depth: its tap (fr, fs) and first channel.
struct SliceAt {
  int fr, fs, c0;
};
__device__ __forceinline__ SliceAt sliceAt(int slice, int cblocks, int kw) {
  const int tap = slice / cblocks;
  const int fr = tap / kw;
  return SliceAt{fr, tap - fr * kw, (slice - tap * cblocks) * kBK};
}

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

// QConv's epilogue for four channels of one pixel (element o of y): int8 out as one 4-byte word.
__device__ __forceinline__ void storeFour(void* y, size_t o, int4 a, const float (&mv)[4], const float (&bv)[4],
                                          unsigned zw, const IgemmEpilogue& e) {
  const int av[4] = {a.x, a.y, a.z, a.w};
  if (e.y_int8) {
    unsigned word = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j)
      word |= foldedByte(av[j], mv[j], bv[j], static_cast<int8_t>((zw >> (8 * j)) & 0xFFu), e) << (8 * j);
    *reinterpret_cast<unsigned*>(static_cast<int8_t*>(y) + o) = word;
  } else {
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
}

// The per-channel constants of four channels from c.
__device__ __forceinline__ void loadFour(const float* p, int c, float (&v)[4]) {
  const float4 f = *reinterpret_cast<const float4*>(p + c);
  v[0] = f.x;
  v[1] = f.y;
  v[2] = f.z;
  v[3] = f.w;
}

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
struct IgemmConfig {
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

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
__global__ void __launch_bounds__(WM* WN * 32, MINB)
    igemmKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w,
                                                           void* __restrict__ y, IgemmGeometry g, IgemmEpilogue e,
                                                           int m_total, int n_tiles) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  // Output-channel tiles vary fastest, so the CTAs that read the same pixels run together (L2).
  const int m0 = static_cast<int>(blockIdx.x / n_tiles) * BM;
  const int n0 = static_cast<int>(blockIdx.x % n_tiles) * BN;

  const int chunk = tid & 3;
  const int cblocks = (g.c + kBK - 1) / kBK;
  const int taps = g.kh * g.kw;
  const int slices = taps * cblocks;
  const int wrow = taps * cblocks * kBK;  // bytes of one output channel's weights

  // Each thread's rows of the A (pixel) and B (channel) slices, fixed over the depth loop.
  PixelRow a_rows[Cfg::kAChunks];
#pragma unroll
  for (int i = 0; i < Cfg::kAChunks; ++i)
    a_rows[i] = pixelRow(m0 + (tid >> 2) + i * (Cfg::kThreads / 4), m_total, g, chunk);
  const int8_t* b_src[Cfg::kBChunks];
#pragma unroll
  for (int i = 0; i < Cfg::kBChunks; ++i) {
    const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
    b_src[i] = w + static_cast<size_t>(n0 + row) * wrow + chunk * 16;
  }

  auto load = [&](int stage, int slice) {
    const SliceAt sl = sliceAt(slice, cblocks, g.kw);
#pragma unroll
    for (int i = 0; i < Cfg::kAChunks; ++i)
      loadPixelChunk(sa + stage * BM * kBK, (tid >> 2) + i * (Cfg::kThreads / 4), chunk, a_rows[i], sl, g, x);
    uint8_t* b_dst = sb + stage * BN * kBK;
#pragma unroll
    for (int i = 0; i < Cfg::kBChunks; ++i) {
      const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
      cpAsync16(b_dst + swizzle(row, chunk), b_src[i] + slice * kBK, true);
    }
  };

  int acc[Cfg::kMTiles][Cfg::kNTiles][4];
#pragma unroll
  for (int i = 0; i < Cfg::kMTiles; ++i)
#pragma unroll
    for (int j = 0; j < Cfg::kNTiles; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) acc[i][j][q] = 0;

  // The residual's tile goes to shared memory with the first slice's group, so its reads overlap
  // the depth loop and the epilogue finds it there (zeros past the last pixel).
  uint8_t* sz = smem + Cfg::kSmem;
  if (e.z) {
    constexpr int kRowChunks = BN / 16;
    for (int i = tid; i < BM * kRowChunks; i += Cfg::kThreads) {
      const int row = i / kRowChunks, c16 = i - row * kRowChunks;
      const int m = m0 + row, co = n0 + c16 * 16;
      const bool ok = m < m_total && co < g.m;
      cpAsync16(sz + row * BN + c16 * 16, ok ? e.z + static_cast<size_t>(m) * g.m + co : e.z, ok);
    }
  }
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < slices) load(st, st);
    cpAsyncCommit();
  }
  for (int kt = 0; kt < slices; ++kt) {
    cpAsyncWait<kStages - 2>();
    __syncthreads();  // slice kt landed for every thread; slice kt - 1's stage is free
    const int next = kt + kStages - 1;
    if (next < slices) load(next % kStages, next);
    cpAsyncCommit();
    mmaSlice<Cfg::kMTiles, Cfg::kNTiles>(acc, sa + (kt % kStages) * BM * kBK, sb + (kt % kStages) * BN * kBK,
                                         wm * Cfg::kWarpM, wn * Cfg::kWarpN, lane);
  }
  cpAsyncWait<0>();
  __syncthreads();  // every warp is done with the pipeline's shared memory

  int* sc = reinterpret_cast<int*>(smem);
  stageAcc(sc, Cfg::kLdc, wm * Cfg::kWarpM, wn * Cfg::kWarpN, acc, lane);
  __syncthreads();

  // Four channels a thread (the same four for every row it takes): a warp covers 128 bytes of a
  // row of int8 y (and of z), one coalesced line.
  constexpr int kVecs = BN / 4;
  const int cv = tid % kVecs;
  const int co = n0 + cv * 4;
  if (co >= g.m) return;
  float mv[4], bv[4];
  loadFour(e.mult, co, mv);
  loadFour(e.bias, co, bv);
  for (int row = tid / kVecs; row < BM; row += Cfg::kThreads / kVecs) {
    const int m = m0 + row;
    if (m >= m_total) break;
    const unsigned zw = e.z ? *reinterpret_cast<const unsigned*>(sz + row * BN + cv * 4) : 0u;
    const int4 a = *reinterpret_cast<const int4*>(sc + row * Cfg::kLdc + cv * 4);
    storeFour(y, static_cast<size_t>(m) * g.m + co, a, mv, bv, zw, e);
  }
}

// The streaming tile (kIgemmStreamTile) for shallow layers, where a CTA of the tiles above loads
// its one to four slices and its residual, computes a few k-steps and spends the rest of its life
// in the epilogue, so an SM's loads come in bursts (ResNet-50's residual 1x1 layers ran at ~1.6 TB/s
// on an H100). Here a CTA of 4 warps (2 x 2 of 32 x 32) keeps its 64 output channels' weights, every
// slice, in shared memory and walks pixel tiles blockIdx.x / n_tiles, + gridDim.x / n_tiles, ...:
// the next tile's pixels and residual load (cp.async, double-buffered) while it computes and
// writes the current one. Each warp stages its own accumulators, so no barrier separates its
// MMAs from its stores.
constexpr int kStreamBM = 64, kStreamBN = 64, kStreamThreads = 128, kStreamLdc = 40;  // ldc: conflict-free int2 stores
constexpr int kStreamMaxSlices = 4;
constexpr int kStreamSlice = kStreamBM * kBK;  // bytes of one pixel or weight slice (BM == BN)

size_t streamSmem(int slices, bool z) {
  return static_cast<size_t>(3 * slices * kStreamSlice + (z ? 2 * kStreamBM * kStreamBN : 0) +
                             (kStreamThreads / 32) * 32 * kStreamLdc * 4);
}

__global__ void __launch_bounds__(kStreamThreads, 4)
    igemmStreamKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, void* __restrict__ y, IgemmGeometry g,
                      IgemmEpilogue e, int m_total, int n_tiles, int m_tiles) {
  extern __shared__ __align__(128) uint8_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 1, wn = warp & 1, chunk = tid & 3;
  const int cblocks = (g.c + kBK - 1) / kBK;
  const int slices = g.kh * g.kw * cblocks;
  uint8_t* sb = smem;                            // [slices][64 channels][64 bytes]
  uint8_t* sa = sb + slices * kStreamSlice;      // 2 x [slices][64 pixels][64 bytes]
  uint8_t* sz = sa + 2 * slices * kStreamSlice;  // 2 x [64 pixels][64 channels] (with z)
  int* sc = reinterpret_cast<int*>(sz + (e.z ? 2 * kStreamBM * kStreamBN : 0)) + warp * 32 * kStreamLdc;
  const int n0 = static_cast<int>(blockIdx.x % n_tiles) * kStreamBN;
  const int step = static_cast<int>(gridDim.x) / n_tiles;
  int mt = static_cast<int>(blockIdx.x) / n_tiles;
  if (mt >= m_tiles) return;  // the whole CTA, before any barrier

  // The CTA's weights, every slice, once.
  const int wrow = slices * kBK;
  for (int i = tid; i < kStreamBN * slices * 4; i += kStreamThreads) {
    const int row = i / (slices * 4), rest = i - row * slices * 4, sl = rest >> 2, c = rest & 3;
    cpAsync16(sb + sl * kStreamSlice + swizzle(row, c), w + static_cast<size_t>(n0 + row) * wrow + sl * kBK + c * 16,
              true);
  }
  auto loadTile = [&](int buf, int tile) {
    const int m0 = tile * kStreamBM;
    uint8_t* a = sa + buf * slices * kStreamSlice;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int row = (tid >> 2) + i * 32;
      const PixelRow p = pixelRow(m0 + row, m_total, g, chunk);
      for (int sl = 0; sl < slices; ++sl)
        loadPixelChunk(a + sl * kStreamSlice, row, chunk, p, sliceAt(sl, cblocks, g.kw), g, x);
      if (e.z) {
        const int m = m0 + row, co = n0 + chunk * 16;
        const bool ok = m < m_total && co < g.m;
        cpAsync16(sz + buf * kStreamBM * kStreamBN + row * kStreamBN + chunk * 16,
                  ok ? e.z + static_cast<size_t>(m) * g.m + co : e.z, ok);
      }
    }
  };

  // The epilogue's four channels of this thread (lane % 8), the same in every tile.
  const int cv = lane & 7;
  const int co = n0 + wn * 32 + cv * 4;
  float mv[4] = {0.f, 0.f, 0.f, 0.f}, bv[4] = {0.f, 0.f, 0.f, 0.f};
  if (co < g.m) {
    loadFour(e.mult, co, mv);
    loadFour(e.bias, co, bv);
  }

  loadTile(0, mt);
  cpAsyncCommit();  // group 0: the weights and the first tile
  for (int it = 0; mt < m_tiles; mt += step, ++it) {
    const int buf = it & 1;
    if (mt + step < m_tiles) loadTile(buf ^ 1, mt + step);
    cpAsyncCommit();  // possibly empty: the count stays one group a tile
    cpAsyncWait<1>();
    __syncthreads();  // tile mt (and the weights) landed for every thread
    int acc[2][4][4] = {};
    const uint8_t* a = sa + buf * slices * kStreamSlice;
    for (int sl = 0; sl < slices; ++sl)
      mmaSlice<2, 4>(acc, a + sl * kStreamSlice, sb + sl * kStreamSlice, wm * 32, wn * 32, lane);
    stageAcc(sc, kStreamLdc, 0, 0, acc, lane);
    __syncwarp();
    if (co < g.m) {
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const int row = r * 4 + (lane >> 3);  // of the warp's 32
        const int m = mt * kStreamBM + wm * 32 + row;
        if (m >= m_total) break;
        const unsigned zw = e.z ? *reinterpret_cast<const unsigned*>(sz + buf * kStreamBM * kStreamBN +
                                                                     (wm * 32 + row) * kStreamBN + wn * 32 + cv * 4)
                                : 0u;
        storeFour(y, static_cast<size_t>(m) * g.m + co, *reinterpret_cast<const int4*>(sc + row * kStreamLdc + cv * 4),
                  mv, bv, zw, e);
      }
    }
    __syncthreads();  // every warp is done with this tile's buffers and its staging
  }
  cpAsyncWait<0>();
}

template <int BM, int BN, int WM, int WN, int kStages, int MINB>
void launchTile(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                cudaStream_t s) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  auto* kernel = igemmKernel<BM, BN, WM, WN, kStages, MINB>;
  // Over 48 KB of dynamic shared memory needs the opt-in, once per device.
  static std::atomic<uint64_t> opted{0};
  int dev = 0;
  cudaGetDevice(&dev);
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (!(opted.load() & bit)) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                         static_cast<int>(Cfg::kSmem + Cfg::kZBytes));
    opted.fetch_or(bit);
  }
  const int m_total = g.n * g.oh * g.ow;
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  const size_t smem = Cfg::kSmem + (e.z ? Cfg::kZBytes : 0);
  kernel<<<blocks, Cfg::kThreads, smem, s>>>(x, w, y, g, e, m_total, n_tiles);
}

}  // namespace

bool igemmFits(const IgemmGeometry& g) {
  const int64_t xs = int64_t{g.n} * g.h * g.w * g.c, ys = int64_t{g.n} * g.oh * g.ow * g.m;
  const int64_t m_tiles = (int64_t{g.n} * g.oh * g.ow + 63) / 64, n_tiles = (g.m + 63) / 64;
  return g.c > 0 && g.m > 0 && g.c % 16 == 0 && g.m % 16 == 0 && xs < (int64_t{1} << 31) &&
         ys < (int64_t{1} << 31) && m_tiles * n_tiles < (int64_t{1} << 31) && g.kh >= 1 && g.kw >= 1;
}

int igemmStreamBlocks(const IgemmGeometry& g, bool z) {
  const int slices = g.kh * g.kw * ((g.c + kBK - 1) / kBK);
  if (!igemmFits(g) || slices > kStreamMaxSlices) return 0;
  const size_t most = streamSmem(kStreamMaxSlices, true), smem = streamSmem(slices, z);
  if (cudaFuncSetAttribute(igemmStreamKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(most)) !=
      cudaSuccess)
    return 0;
  int dev = 0, sms = 0, per_sm = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, igemmStreamKernel, kStreamThreads, smem) != cudaSuccess ||
      per_sm < 1)
    return 0;
  const int64_t n_tiles = (g.m + kStreamBN - 1) / kStreamBN;
  const int64_t m_tiles = (int64_t{g.n} * g.oh * g.ow + kStreamBM - 1) / kStreamBM;
  const int64_t per_n = std::max<int64_t>(1, std::min<int64_t>(m_tiles, int64_t{per_sm} * sms / n_tiles));
  return static_cast<int>(per_n * n_tiles);
}

void qconvIgemm(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int stream_blocks, cudaStream_t s) {
  switch (tile) {
    case 0: return launchTile<128, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 1: return launchTile<128, 64, 4, 2, 4, 2>(x, w, y, g, e, s);
    case 2: return launchTile<64, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 3: return launchTile<64, 64, 2, 2, 4, 4>(x, w, y, g, e, s);
    // Two stages and more CTAs an SM: for shallow (K <= 128 deep), memory-bound layers.
    case 4: return launchTile<128, 64, 4, 2, 2, 3>(x, w, y, g, e, s);
    case 5: return launchTile<64, 128, 2, 4, 2, 3>(x, w, y, g, e, s);
    case 6: return launchTile<64, 64, 2, 2, 2, 6>(x, w, y, g, e, s);
    default: {
      const int m_total = g.n * g.oh * g.ow;
      const int n_tiles = (g.m + kStreamBN - 1) / kStreamBN, m_tiles = (m_total + kStreamBM - 1) / kStreamBM;
      const int slices = g.kh * g.kw * ((g.c + kBK - 1) / kBK);
      const size_t smem = streamSmem(slices, e.z != nullptr);
      igemmStreamKernel<<<stream_blocks, kStreamThreads, smem, s>>>(x, w, y, g, e, m_total, n_tiles, m_tiles);
    }
  }
}

}  // namespace qrt::cuda::launch
