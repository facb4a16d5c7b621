// qrt's INT8 implicit-GEMM convolution: see qconv_igemm_launch.h for the scheme.
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>

#include "backends/cuda/qconv_igemm_device.cuh"

namespace qrt::cuda::launch {

namespace {

using namespace igemm_detail;

// kDs: with the downsample computed first (IgemmEpilogue::ds_x); its own instantiation, so the
// kernels without it are unchanged.
template <int BM, int BN, int WM, int WN, int kStages, int MINB, bool kDs>
__global__ void __launch_bounds__(WM* WN * 32, MINB)
    igemmKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, void* __restrict__ y, IgemmGeometry g,
                IgemmEpilogue e, int m_total, int n_tiles) {
  pdlStart();
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  TileLoader<Cfg> ld;
  int acc[Cfg::kMTiles][Cfg::kNTiles][4];
  // The product of the tile's slices (t) of x with geometry gg into acc.
  auto product = [&](const TileAt& t, const IgemmGeometry& gg, const int8_t* xx) {
    zeroAcc<Cfg>(acc);
    for (int kt = 0; kt < t.slices; ++kt) {
      nextSlice<Cfg, kStages>(ld, sa, sb, kt, t, gg, xx, tid, [] {});
      if (!(t.probe & 2))
        mmaSlice<Cfg::kMTiles, Cfg::kNTiles>(acc, sa + (kt % kStages) * BM * kBK, sb + (kt % kStages) * BN * kBK,
                                             wm * Cfg::kWarpM, wn * Cfg::kWarpN, lane);
    }
  };
  auto stage = [&](int* sc) { stageAcc(sc, Cfg::kLdc, wm * Cfg::kWarpM, wn * Cfg::kWarpN, acc, lane); };
  runTile<Cfg, kStages, kDs>(ld, smem, x, w, y, g, e, m_total, n_tiles, tid, product, stage);
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
  pdlStart();
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  int* sc = reinterpret_cast<int*>(smem + Cfg::kPipeBytes);
  uint8_t* sz = smem + Cfg::kPipeBytes + Cfg::kEpiBytes;  // kStages residual tiles (with z)
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / WN, wn = warp % WN;
  PersistentStream<Cfg, kStages, false> ps(g, tiles, n_tiles, m_total);
  if (ps.total == 0) return;  // the whole CTA, before any barrier
  const int total = ps.total, slices = ps.slices;
  auto loadNext = [&](int stage) { ps.loadNext(sa, sb, sz, stage, g, e, x, w, tid); };

  int acc[Cfg::kMTiles][Cfg::kNTiles][4];
  zeroAcc<Cfg>(acc);
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < total) loadNext(st);
    cpAsyncCommit();
  }
  int tile = ps.first, count = 0, kt = 0;  // the tile the MMAs are on
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
      epilogueTile<Cfg>(y, sc, sz + (count % kStages) * BM * BN, ps.m0(tile), ps.n0(tile), m_total, g, e, tid);
      kt = 0;
      tile += ps.step;
      ++count;
    }
  }
  cpAsyncWait<0>();
}


template <int BM, int BN, int WM, int WN, int kStages, int MINB>
void launchTile(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                cudaStream_t s) {
  using Cfg = IgemmConfig<BM, BN, WM, WN, kStages, MINB>;
  auto* kernel = e.ds_x ? igemmKernel<BM, BN, WM, WN, kStages, MINB, true> : igemmKernel<BM, BN, WM, WN, kStages, MINB, false>;
  static std::atomic<uint64_t> opted[2] = {0, 0};
  optIn(kernel, Cfg::kSmem + Cfg::kZBytes, opted[e.ds_x ? 1 : 0]);
  const int m_total = g.n * g.oh * g.ow;
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  const size_t smem = Cfg::kSmem + (e.z || e.ds_x ? Cfg::kZBytes : 0);
  launchKernel(kernel, blocks, Cfg::kThreads, smem, s, x, w, y, g, e, m_total, n_tiles);
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
    return oneWaveGrid(kernel, Cfg::kThreads, smem(z), g, BM, BN);
  }
  static void launch(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                     int grid, cudaStream_t s) {
    const int m_total = g.n * g.oh * g.ow;
    const int n_tiles = (g.m + BN - 1) / BN;
    const int tiles = (m_total + BM - 1) / BM * n_tiles;
    launchKernel(kernel, static_cast<unsigned>(grid), Cfg::kThreads, smem(e.z != nullptr), s, x, w, y, g, e, m_total,
                 n_tiles, tiles);
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
  if (kIgemmTiles[tile].wgmma) return wgmmaPersistentGrid(g, tile);
  switch (tile) {
    case 7: return Persistent7::grid(g, z);
    case 8: return Persistent8::grid(g, z);
    case 9: return Persistent9::grid(g, z);
    default: return 0;
  }
}

void qconvIgemm(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int grid, cudaStream_t s) {
  if (kIgemmTiles[tile].wgmma) return qconvWgmma(x, w, y, g, e, tile, grid, s);
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
