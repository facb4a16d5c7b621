// qrt's INT8 implicit-GEMM convolution: see qconv_igemm_launch.h for the scheme.
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
__global__ void __launch_bounds__(WM* WN * 32, MINB) igemmKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w,
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
  int a_ih0[Cfg::kAChunks], a_iw0[Cfg::kAChunks], a_off[Cfg::kAChunks];
  bool a_ok[Cfg::kAChunks];
#pragma unroll
  for (int i = 0; i < Cfg::kAChunks; ++i) {
    const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
    const int m = m0 + row;
    a_ok[i] = m < m_total;
    const int mm = a_ok[i] ? m : 0;
    const int ox = mm % g.ow;
    const int t = mm / g.ow;
    const int oy = t % g.oh;
    const int nb = t / g.oh;
    a_ih0[i] = oy * g.sh - g.ph;
    a_iw0[i] = ox * g.sw - g.pw;
    a_off[i] = nb * g.h * g.w * g.c + chunk * 16;
  }
  const int8_t* b_src[Cfg::kBChunks];
#pragma unroll
  for (int i = 0; i < Cfg::kBChunks; ++i) {
    const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
    b_src[i] = w + static_cast<size_t>(n0 + row) * wrow + chunk * 16;
  }

  auto load = [&](int stage, int slice) {
    const int tap = slice / cblocks;
    const int cb = slice - tap * cblocks;
    const int fr = tap / g.kw, fs = tap - fr * g.kw;
    const int cc = cb * kBK + chunk * 16;
    uint8_t* a_dst = sa + stage * BM * kBK;
#pragma unroll
    for (int i = 0; i < Cfg::kAChunks; ++i) {
      const int row = (tid >> 2) + i * (Cfg::kThreads / 4);
      const int ih = a_ih0[i] + fr * g.dh, iw = a_iw0[i] + fs * g.dw;
      const bool ok = a_ok[i] && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(g.w) && cc < g.c;
      const int8_t* src = ok ? x + a_off[i] + (ih * g.w + iw) * g.c + cb * kBK : x;
      cpAsync16(a_dst + swizzle(row, chunk), src, ok);
    }
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
    const uint8_t* a_s = sa + (kt % kStages) * BM * kBK;
    const uint8_t* b_s = sb + (kt % kStages) * BN * kBK;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {  // two 32-deep MMA steps a slice
      uint32_t af[Cfg::kMTiles][4], bf[Cfg::kNTiles][2];
#pragma unroll
      for (int mt = 0; mt < Cfg::kMTiles; ++mt) {
        // x4: rows 0-15 of the m-tile, chunk 2ks (lanes 0-15) and 2ks+1 (lanes 16-31): a0..a3.
        const int row = wm * Cfg::kWarpM + mt * 16 + (lane & 15);
        ldmatrixX4(af[mt], a_s + swizzle(row, ks * 2 + (lane >> 4)));
      }
#pragma unroll
      for (int np = 0; np < Cfg::kNTiles / 2; ++np) {
        // x4: channels 0-7 (chunks 2ks, 2ks+1) then 8-15: b0, b1 of two n-tiles.
        const int row = wn * Cfg::kWarpN + np * 16 + (lane & 7) + ((lane >> 4) << 3);
        uint32_t r[4];
        ldmatrixX4(r, b_s + swizzle(row, ks * 2 + ((lane >> 3) & 1)));
        bf[2 * np][0] = r[0];
        bf[2 * np][1] = r[1];
        bf[2 * np + 1][0] = r[2];
        bf[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < Cfg::kMTiles; ++mt)
#pragma unroll
        for (int nt = 0; nt < Cfg::kNTiles; ++nt) mmaS8(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
    }
  }
  cpAsyncWait<0>();
  __syncthreads();  // every warp is done with the pipeline's shared memory

  // Stage the int32 tile: accumulator (mt, nt) holds rows lane/4 (+8), columns 2 (lane%4) (+1).
  int* sc = reinterpret_cast<int*>(smem);
#pragma unroll
  for (int mt = 0; mt < Cfg::kMTiles; ++mt)
#pragma unroll
    for (int nt = 0; nt < Cfg::kNTiles; ++nt) {
      const int row = wm * Cfg::kWarpM + mt * 16 + (lane >> 2);
      const int col = wn * Cfg::kWarpN + nt * 8 + (lane & 3) * 2;
      *reinterpret_cast<int2*>(sc + row * Cfg::kLdc + col) = make_int2(acc[mt][nt][0], acc[mt][nt][1]);
      *reinterpret_cast<int2*>(sc + (row + 8) * Cfg::kLdc + col) = make_int2(acc[mt][nt][2], acc[mt][nt][3]);
    }
  __syncthreads();

  // Four channels a thread (the same four for every row it takes): a warp covers 128 bytes of a
  // row of int8 y (and of z), one coalesced line.
  constexpr int kVecs = BN / 4;
  const int cv = tid % kVecs;
  const int co = n0 + cv * 4;
  if (co >= g.m) return;
  const float4 mult = *reinterpret_cast<const float4*>(e.mult + co);
  const float4 bias = *reinterpret_cast<const float4*>(e.bias + co);
  const float mv[4] = {mult.x, mult.y, mult.z, mult.w}, bv[4] = {bias.x, bias.y, bias.z, bias.w};
  for (int row = tid / kVecs; row < BM; row += Cfg::kThreads / kVecs) {
    const int m = m0 + row;
    if (m >= m_total) break;
    const int4 a = *reinterpret_cast<const int4*>(sc + row * Cfg::kLdc + cv * 4);
    const int av[4] = {a.x, a.y, a.z, a.w};
    const size_t o = static_cast<size_t>(m) * g.m + co;
    const unsigned zw = e.z ? *reinterpret_cast<const unsigned*>(sz + row * BN + cv * 4) : 0u;
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
      *reinterpret_cast<float4*>(static_cast<float*>(y) + o) = make_float4(v[0], v[1], v[2], v[3]);
    }
  }
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

void qconvIgemm(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                cudaStream_t s) {
  switch (tile) {
    case 0: return launchTile<128, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 1: return launchTile<128, 64, 4, 2, 4, 2>(x, w, y, g, e, s);
    case 2: return launchTile<64, 128, 2, 4, 4, 2>(x, w, y, g, e, s);
    case 3: return launchTile<64, 64, 2, 2, 4, 4>(x, w, y, g, e, s);
    // Two stages and more CTAs an SM: for shallow (K <= 128 deep), memory-bound layers.
    case 4: return launchTile<128, 64, 4, 2, 2, 3>(x, w, y, g, e, s);
    case 5: return launchTile<64, 128, 2, 4, 2, 3>(x, w, y, g, e, s);
    default: return launchTile<64, 64, 2, 2, 2, 6>(x, w, y, g, e, s);
  }
}

}  // namespace qrt::cuda::launch
