// qrt's INT8 implicit-GEMM convolution on Hopper's warpgroup MMA (wgmma, sm_90a): the tiles
// "ig10".."ig37" of qconv_igemm_launch.h. Everything but the MMAs is the mma.sync kernel's
// (qconv_igemm_device.cuh): the same cp.async pipeline of 64-deep slices, the same staged int32
// tile and epilogue. Why: on an H100 the mma.sync kernel reaches ~0.5 POPS on compute-bound 3x3
// layers and issues most of its instructions on memory-bound ones; one wgmma computes a 64 x BN x
// 32 product from shared memory with no ldmatrix and no per-warp fragments, so the main loop
// issues a few instructions a slice.
//
// The loaders' slice layout is already the layout wgmma reads: rows (pixels for A, output channels
// for B) of 64 bytes of depth, K-major, with 16-byte chunk c of row r at r * 64 + ((c ^ ((r >> 1) &
// 3)) << 4) (swizzle()): that is the 64-byte swizzle mode (address bits 4-5 XOR bits 7-8), with
// 8-row core-matrix groups 512 bytes apart. The two 32-deep steps of a slice start 32 bytes apart
// within the swizzle atom (the hardware swizzles the address it computes, so the tiles must start
// on 512-byte boundaries: the kernel aligns its shared memory to 1024).
//
// A CTA of BM / 64 warpgroups computes a BM x BN tile: warpgroup g the rows 64g.., all BN columns.
// The accumulator layout of wgmma (warp w of the group: rows 16w + lane / 4 (+ 8), columns 8j + 2
// (lane % 4) (+ 1) of n-tile j) is mma.sync m16n8's, so the staging into the int32 tile is the
// same. Per slice: wait for the slice's cp.async group, fence the generic-proxy writes for the
// async proxy wgmma reads through, barrier, queue the next slice, two wgmmas, commit, wait.
//
// Compiled for sm_90a only (cmake/cuda.cmake: its own object library); qconvWgmma is launched only
// on compute capability 9.0 (qconv_igemm.cpp checks). The tuner checks the chosen tile against
// cuDNN before keeping it (checkOwnQConv); CudaIgemmKernel and CudaQres.EveryImplicitGemmTile run
// every tile against exact and reference results. Tiles 10-13 passed on their first H100 run
// (session 7) and beat the mma.sync tiles on every ResNet-50 layer at batch 256 (2-25%). Session 8
// (H100): the pipelined 14-15 (WgmmaTile::kPipe) and the two-stage 16-17 are the fastest own kernel
// on 21 of ResNet-50's 24 layer shapes; the register-epilogue 18-19 (WgmmaTile::kRegEpi) on none
// (opt-in now), the pipelined register-epilogue 20 on one; the persistent 21-23
// (wgmmaPersistentKernel) slower on every layer (opt-in). All passed their tests. Session 9: the TMA
// tiles 24-25 (wgmmaTmaKernel) passed theirs and are the fastest own kernel on 5 of the 1x1 stride-1
// shapes the tuner re-timed (timed by default). Session 11 (H200): the TMA im2col tiles 34-35
// (launchWgmmaIm2col) take layer1's 3x3 (136 -> 126 us); the wide-epilogue tiles 36-37 lost (opt-in).
#include <cuda.h>  // CUtensorMap and its enums (the encoder comes through cudaGetDriverEntryPointByVersion)
#include <cudaTypedefs.h>

#include <cstdio>

#include "backends/cuda/sm90a/wgmma_common.cuh"

namespace qrt::cuda::launch {

namespace {

using namespace igemm_detail;

// kPipe: the pipelined form. A slice's wgmmas are left running (wgmma.wait_group 1) while the
// threads wait for the next slice's loads, pass its barrier and queue the one after; the loads run
// kStages - 2 slices ahead (startTile's kAhead), so the stage being reloaded is never the one the
// running wgmmas read. Without it each slice waits for its own wgmmas (wait_group 0), and the
// tensor cores idle through every barrier: on an H100 that kernel reached ~0.8 POPS on ResNet-50's
// 3x3 layers where cuDNN's int8 plans reach ~1.4.
//
// kRegEpi: the register epilogue (int8 y only; launchWgmma runs the staged form for float y). The
// staged epilogue writes every accumulator to shared memory as int32 (BM x BN x 4 bytes: 64 KB for
// 128 x 128) and reads it back, four channels a thread; here each thread applies QConv's int8
// epilogue to its own accumulators (wgmma's fragment: two adjacent channels of a row at a time,
// the residual's two bytes read from the z tile), writes the two bytes into an int8 y tile in the
// pipeline's shared memory, and the CTA then stores that tile in coalesced 16-byte rows. The z and
// y tiles use tileChunk's swizzled layout (conflict-free 2-byte accesses across a fragment's 8
// rows). A fused downsample's z goes into the z tile the same way. Shared memory: the pipeline and
// the z tile only (128 x 128: 81 KB against 87), a quarter of the staged form's traffic. Values:
// the staged epilogue's, operation for operation (foldedPair, foldedWord).
template <int BM, int BN, int kStages, int MINB, bool kPipe = false, bool kRegEpi = false>
struct WgmmaTile {
  using Cfg = IgemmConfig<BM, BN, BM / 16, 1, kStages, MINB>;  // a warp per 16 rows, as the loaders split them
  static constexpr int kAhead = kPipe ? kStages - 2 : kStages - 1;
  static_assert(BM % 64 == 0 && (BN == 64 || BN == 128), "warpgroups of 64 rows; n64 or n128");
  static_assert(kAhead >= 1, "the pipelined form needs 3 stages or more");
  static_assert(!kRegEpi || static_cast<size_t>(BM) * BN <= Cfg::kPipeBytes, "the y tile fits the pipeline");
  static constexpr size_t kAlign = 1024;  // the dynamic shared memory is aligned to this in the kernel
  // Where the residual's tile starts: after the staged int32 tile, or (kRegEpi) after the pipeline.
  static constexpr size_t kZAt = kRegEpi ? Cfg::kPipeBytes : Cfg::kSmem;
  static size_t smem(bool z) { return kZAt + (z ? Cfg::kZBytes : 0) + kAlign; }  // z: a residual tile
};

// (epilogueWide; tiles 36-37).
template <int BM, int BN, int kStages, int MINB, bool kPipe, bool kRegEpi, bool kDs, bool kWide = false>
__global__ void __launch_bounds__(BM / 16 * 32, MINB)
    wgmmaKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, void* __restrict__ y, IgemmGeometry g,
                IgemmEpilogue e, int m_total, int n_tiles) {
#ifdef QRT_WGMMA_ON
  pdlStart();
  using T = WgmmaTile<BM, BN, kStages, MINB, kPipe, kRegEpi>;
  using Cfg = typename T::Cfg;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  uint8_t* smem = smem_raw + ((T::kAlign - (raw & (T::kAlign - 1))) & (T::kAlign - 1));
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  TileLoader<Cfg> ld;
  int acc[BN / 2];
  // The product of the tile's slices (t) of x with geometry gg into acc.
  auto product = [&](const TileAt& t, const IgemmGeometry& gg, const int8_t* xx) {
    // The first slice apart (sliceWgmmasFirst: it writes acc), then the others adding to acc. The
    // slice's cp.async writes (generic proxy) are fenced for wgmma's reads (async proxy); its stage
    // is reloaded only after the wgmmas below have waited (kPipe: at the next slice's wait, before
    // the barrier that precedes the reload; WgmmaTile).
    auto wait = [] {
      if constexpr (kPipe)
        wgmmaWait<1>();
      else
        wgmmaWait<0>();
    };
    int kt0 = 0;
    if constexpr (MINB >= 4) {
      // The tiles of 4 CTAs an SM and more (16-17, 28-33, 36-37: 64 to 128 registers a thread) keep
      // one loop whose first slice's wgmma takes a runtime scale-d: peeled, they ran 3-11% slower on
      // ResNet-50's one- and two-slice residual layers (H200, session 14; tile 28 on layer2.0 conv3
      // 114.9 -> 127.8 us), where the peel took 5-18% off the deeper tiles' 3x3 layers (tile 14 on
      // layer4.0 conv2 78.2 -> 64.3 us).
      zeroIfProbing(acc, t.probe);
      fenceRegs(acc);
    } else {
      nextSlice<Cfg, kStages, T::kAhead>(ld, sa, sb, 0, t, gg, xx, tid, [] { fenceProxyAsync(); });
      if (t.probe & 2) {  // QRT_CUDA_IGEMM_PROBE (measurement only): no MMAs, zeros
        zeroIfProbing(acc, t.probe);
      } else {
        sliceWgmmasFirst<BM, BN>(acc, sa, sb, 0, wg);
        wait();
      }
      kt0 = 1;
    }
    for (int kt = kt0; kt < t.slices; ++kt) {
      nextSlice<Cfg, kStages, T::kAhead>(ld, sa, sb, kt, t, gg, xx, tid, [] { fenceProxyAsync(); });
      if (t.probe & 2) continue;
      sliceWgmmas<BM, BN>(acc, sa, sb, kt % kStages, wg, kt == 0);
      wait();
    }
    wgmmaWait<0>();
    fenceRegs(acc);
  };
  if constexpr (kRegEpi) {  // int8 y (launchWgmma): the register epilogue (WgmmaTile)
    uint8_t* sz = smem + T::kZAt;
    if constexpr (kDs) {  // the downsample's z, from its accumulators into the z tile
      const TileAt t2 = startTile<Cfg, kStages, T::kAhead, true>(ld, sa, sb, sz, e.ds_x, e.ds_w, e.ds, IgemmEpilogue{},
                                                                 m_total, n_tiles, tid);
      product(t2, e.ds, e.ds_x);
      pairsToTile<BN, false>(sz, sz, acc, warp, lane, t2.n0, g.m, e.ds_mult, e.ds_bias, 0.f, -128.f, 127.f);
      cpAsyncWait<0>();
      __syncthreads();  // every warpgroup is past the downsample's stages, and z is in sz
    }
    const TileAt t = startTile<Cfg, kStages, T::kAhead, true>(ld, sa, sb, sz, x, w, g, e, m_total, n_tiles, tid);
    product(t, g, x);
    cpAsyncWait<0>();
    __syncthreads();  // the stages are free for the y tile; a loaded z landed for every thread
    if (e.z || kDs)
      pairsToTile<BN, true>(smem, sz, acc, warp, lane, t.n0, g.m, e.mult, e.bias, e.z_scale, e.qlo, e.qhi);
    else
      pairsToTile<BN, false>(smem, sz, acc, warp, lane, t.n0, g.m, e.mult, e.bias, 0.f, e.qlo, e.qhi);
    __syncthreads();
    storeTile<BM, BN, Cfg::kThreads>(static_cast<int8_t*>(y), smem, t.m0, t.n0, m_total, g.m, tid);
  } else {
    auto stage = [&](int* sc) { stageWgmmaAcc<BN>(sc, Cfg::kLdc, warp * 16, acc, lane); };
    if constexpr (kWide) {
      auto wide = [&](int* sc) { stageWgmmaAccWide<BN, Cfg::kLdc>(sc, warp * 16, acc, lane); };
      runTile<Cfg, kStages, kDs, T::kAhead>(ld, smem, x, w, y, g, e, m_total, n_tiles, tid, product, stage, wide);
    } else {
      runTile<Cfg, kStages, kDs, T::kAhead>(ld, smem, x, w, y, g, e, m_total, n_tiles, tid, product, stage);
    }
  }
#endif
}

template <int BM, int BN, int kStages, int MINB, bool kPipe = false, bool kRegEpi = false, bool kWide = false>
void launchWgmma(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                 cudaStream_t s) {
  if constexpr (kRegEpi || kWide) {  // float y: the staged epilogue of the same tile
    if (!e.y_int8) return launchWgmma<BM, BN, kStages, MINB, kPipe, false>(x, w, y, g, e, s);
  }
  using T = WgmmaTile<BM, BN, kStages, MINB, kPipe, kRegEpi>;
  auto* kernel = e.ds_x ? wgmmaKernel<BM, BN, kStages, MINB, kPipe, kRegEpi, true, kWide>
                        : wgmmaKernel<BM, BN, kStages, MINB, kPipe, kRegEpi, false, kWide>;
  static std::atomic<uint64_t> opted[2] = {0, 0};
  optIn(kernel, T::smem(true), opted[e.ds_x ? 1 : 0]);
  const int m_total = g.n * g.oh * g.ow;
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  launchKernel(kernel, blocks, T::Cfg::kThreads, T::smem(e.z || e.ds_x), s, x, w, y, g, e, m_total, n_tiles);
}

// The TMA form (tiles 24-25; kIgemmTiles: tma; written in session 8, first run and timed by default in session 9): the
// pipelined tiled kernel (kPipe) whose x and w slices come by the Tensor Memory Accelerator instead of
// every thread's cp.async: one thread issues a slice's two 2-D box copies (x as a [pixels, C] matrix,
// w as the packed [M_pad, C_pad] one; boxes of BM or BN rows x 64 bytes, 64-byte swizzle, which is the
// layout the loaders write and wgmma reads; rows and channels past the tensor read as zeros) and
// arms the stage's mbarrier with their byte count; the warps wait on that barrier (parity: the
// stage's use count), then the block barrier that frees the stage reloaded next, as before. Why:
// ncu (session 8) found the residual 1x1 layers issue-bound as much as memory-bound (half the issue
// slots busy), and the loader spends about a quarter of their instructions. 1x1 stride-1 unpadded
// layers only (qconv_igemm.cpp refuses others for these tiles; the launch falls back to the
// cp.async kernel for them and for a fused downsample). The residual z, the staged epilogue and the
// tile order are the tiled kernel's.

// kIm2col (tiles 34-35): x by TMA's im2col mode (tmaIm2col; any window, stride, padding and
// dilation), the slices walked tap by tap, 64 channels at a time, as the packed weights' rows are.
template <int BM, int BN, int kStages, int MINB, bool kIm2col = false>
__global__ void __launch_bounds__(BM / 16 * 32, MINB)
    wgmmaTmaKernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, void* __restrict__ y,
                   IgemmGeometry g, IgemmEpilogue e, int m_total, int n_tiles) {
#ifdef QRT_WGMMA_ON
  pdlStart();  // before the first read of x (the TMA's too)
  using T = WgmmaTile<BM, BN, kStages, MINB, true>;
  using Cfg = typename T::Cfg;
  constexpr int kAhead = T::kAhead;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = smemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((T::kAlign - (raw & (T::kAlign - 1))) & (T::kAlign - 1));
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  uint8_t* sz = smem + Cfg::kSmem;
  uint64_t* bars = reinterpret_cast<uint64_t*>(sz + Cfg::kZBytes);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  TileAt t;
  t.m0 = static_cast<int>(blockIdx.x / n_tiles) * BM;
  t.n0 = static_cast<int>(blockIdx.x % n_tiles) * BN;
  const int cblocks = (g.c + kBK - 1) / kBK;
  t.slices = g.kh * g.kw * cblocks;
  t.c_pad = cblocks * kBK;
  t.probe = e.probe;
  // kIm2col: where the tile's first pixel's window starts (thread 0 issues every load).
  int w0 = 0, h0 = 0, img0 = 0;
  if (tid == 0) {
    for (int i = 0; i < kStages; ++i) mbarInit(&bars[i], 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    if (kIm2col) {
      const int ow = t.m0 % g.ow, rest = t.m0 / g.ow;
      w0 = ow * g.sw - g.pw;
      h0 = (rest % g.oh) * g.sh - g.ph;
      img0 = rest / g.oh;
    }
  }
  if (e.z) loadResidualTile<BM, BN, Cfg::kThreads>(sz, e, t.m0, t.n0, m_total, g.m, tid);
  cpAsyncCommit();
  __syncthreads();  // the barriers are initialised
  auto issue = [&](int slice) {  // thread 0: slice's x and w boxes into its stage
    const int st = slice % kStages;
    if constexpr (kIm2col) {
      const int tap = slice / cblocks, c0 = (slice - tap * cblocks) * kBK;
      const int r = tap / g.kw, sx = tap - r * g.kw;
      mbarExpectTx(&bars[st], static_cast<uint32_t>((BM + BN) * kBK));
      tmaIm2col(sa + st * BM * kBK, &tx, c0, w0, h0, img0, sx * g.dw, r * g.dh, &bars[st]);
      tmaLoad2d(sb + st * BN * kBK, &tw, slice * kBK, t.n0, &bars[st]);
    } else {
      tmaSlice(sa + st * BM * kBK, sb + st * BN * kBK, &tx, &tw, slice, t.m0, t.n0, BM, BN, &bars[st]);
    }
  };
  if (tid == 0 && !(t.probe & 4))
    for (int i = 0; i < kAhead && i < t.slices; ++i) issue(i);
  int acc[BN / 2];
  // Slice kt landed; every warpgroup retired slice kt - 2's wgmmas, so that stage is free to reload.
  auto landed = [&](int kt) {
    if (!(t.probe & 4)) mbarWait(&bars[kt % kStages], static_cast<uint32_t>((kt / kStages) & 1));
    __syncthreads();
    if (tid == 0 && kt + kAhead < t.slices && !(t.probe & 4)) issue(kt + kAhead);
  };
  landed(0);
  if (t.probe & 2) {  // QRT_CUDA_IGEMM_PROBE (measurement only): no MMAs, zeros
    zeroIfProbing(acc, t.probe);
  } else {
    sliceWgmmasFirst<BM, BN>(acc, sa, sb, 0, wg);  // writes acc (the first slice apart: no reads before)
    wgmmaWait<1>();
  }
  for (int kt = 1; kt < t.slices; ++kt) {
    landed(kt);
    if (t.probe & 2) continue;
    sliceWgmmas<BM, BN>(acc, sa, sb, kt % kStages, wg, false);
    wgmmaWait<1>();
  }
  wgmmaWait<0>();
  fenceRegs(acc);
  auto stage = [&](int* sc) { stageWgmmaAcc<BN>(sc, Cfg::kLdc, warp * 16, acc, lane); };
  finishTile<Cfg>(y, smem, sz, t, m_total, g, e, tid, stage);
#endif
}

template <int BM, int BN, int kStages, int MINB>
void launchWgmmaTma(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                    cudaStream_t s) {
  const int m_total = g.n * g.oh * g.ow;
  CUtensorMap tx{}, tw{};
  if (!igemmUnit(g) || e.ds_x ||
      !encodeBoxes(&tx, x, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.c), static_cast<uint64_t>(g.c), BM) ||
      !encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), static_cast<uint64_t>(igemmCPad(g.c)),
                   static_cast<uint64_t>(igemmCPad(g.c)), BN))
    return launchWgmma<BM, BN, kStages, MINB, true>(x, w, y, g, e, s);  // the cp.async form of the same tile
  using T = WgmmaTile<BM, BN, kStages, MINB, true>;
  auto* kernel = wgmmaTmaKernel<BM, BN, kStages, MINB>;
  const size_t smem = T::smem(true) + kStages * sizeof(uint64_t);
  static std::atomic<uint64_t> opted{0};
  optIn(kernel, smem, opted);
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  launchKernel(kernel, blocks, T::Cfg::kThreads, smem, s, tx, tw, y, g, e, m_total, n_tiles);
}

// Tiles 34-35: the TMA kernel with x in im2col mode, for the layers the tiled TMA tiles 24-25 do not take
// (3x3, strided, padded: kIgemmTiles' im2col). Why: ncu (session 11, H200, ResNet-50 INT8 b256) found
// layer1's 3x3 convolution on tile 16 issue-bound (76% of issue slots, 94 M instructions for 59 GOP of
// MMAs), most of them the cp.async loader's per-slice address and padding arithmetic; here thread 0
// issues two TMA loads a slice. A fused downsample, or a driver without the encoder, runs the cp.async
// form of the same tile (launchWgmma, pipelined).
template <int BM, int BN, int kStages, int MINB>
void launchWgmmaIm2col(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                       cudaStream_t s) {
  const uint64_t wrow = static_cast<uint64_t>(g.kh) * g.kw * igemmCPad(g.c);  // the packed weights' row
  CUtensorMap tx{}, tw{};
  if (e.ds_x) return launchWgmma<BM, BN, kStages, MINB, true>(x, w, y, g, e, s);
  if ((g.kh - 1) * g.dh > 255 || (g.kw - 1) * g.dw > 255 || !encodeIm2col(&tx, x, g, BM) ||
      !encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), wrow, wrow, BN)) {
    static std::atomic<bool> told{false};  // once a process: the tile's timings are then its cp.async form's
    if (!told.exchange(true))
      std::fprintf(stderr, "qrt: no TMA im2col map for a %dx%d stride-%d layer of %d channels; tiles 34-35 run "
                   "their cp.async form\n", g.kh, g.kw, g.sh, g.c);
    return launchWgmma<BM, BN, kStages, MINB, true>(x, w, y, g, e, s);
  }
  using T = WgmmaTile<BM, BN, kStages, MINB, true>;
  auto* kernel = wgmmaTmaKernel<BM, BN, kStages, MINB, true>;
  const size_t smem = T::smem(true) + kStages * sizeof(uint64_t);
  static std::atomic<uint64_t> opted{0};
  optIn(kernel, smem, opted);
  const int m_total = g.n * g.oh * g.ow;
  const int n_tiles = (g.m + BN - 1) / BN;
  const unsigned blocks = static_cast<unsigned>((m_total + BM - 1) / BM) * static_cast<unsigned>(n_tiles);
  launchKernel(kernel, blocks, T::Cfg::kThreads, smem, s, tx, tw, y, g, e, m_total, n_tiles);
}

// The persistent form (tiles 21-23; kIgemmTiles: persistent, opt-in): a wave of CTAs (wgmmaPersistentGrid),
// each walking the tiles blockIdx.x, + gridDim.x, ... as one stream of slices through the cp.async
// pipeline, as igemmPersistentKernel (qconv_igemm.cu) does with mma.sync: the next tiles' first slices
// and residual tiles load while a tile's last wgmmas and its epilogue run. Why: ncu on the H100 (session
// 8, ResNet-50 INT8 b256) found the tiled kernels on the residual 1x1 layers latency-bound (layer3
// conv3: 83 us at 36% of DRAM and 45% of L2 throughput, 24% occupancy): a tiled CTA of 1-4 slices
// spends most of its life waiting for its first loads. int8 y only, with the register epilogue
// (pairsToTile, storeTile): the ring of kStages int8 tiles after the pipeline holds tile j's residual
// (loaded with its first slice) at j % kStages, and its y is written over it in place (each thread
// reads its own two bytes of z, then writes them); the slot is reloaded for tile j + kStages only after
// the barrier that follows tile j's store. A slice's stage is reloaded kStages - 1 slices later, after
// a barrier its wgmmas have waited for (wait_group 0). Float y and a fused downsample run the tiled
// kernel (launchWgmma; qconv_igemm.cpp refuses the fusion for a persistent tile).
template <int BM, int BN, int kStages, int MINB>
__global__ void __launch_bounds__(BM / 16 * 32, MINB)
    wgmmaPersistentKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, int8_t* __restrict__ y,
                          IgemmGeometry g, IgemmEpilogue e, int m_total, int n_tiles, int tiles) {
#ifdef QRT_WGMMA_ON
  pdlStart();
  using Cfg = IgemmConfig<BM, BN, BM / 16, 1, kStages, MINB>;
  constexpr size_t kAlign = 1024;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  uint8_t* smem = smem_raw + ((kAlign - (raw & (kAlign - 1))) & (kAlign - 1));
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  uint8_t* ring = smem + Cfg::kPipeBytes;  // kStages int8 tiles of BM x BN: residual in, y out
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  PersistentStream<Cfg, kStages, true> ps(g, tiles, n_tiles, m_total);  // loads kStages - 1 slices ahead
  if (ps.total == 0) return;  // the whole CTA, before any barrier
  const int total = ps.total, slices = ps.slices;
  auto loadNext = [&](int stage) { ps.loadNext(sa, sb, ring, stage, g, e, x, w, tid); };

  int acc[BN / 2];  // each tile's first slice writes them (sliceWgmmas)
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < total) loadNext(st);
    cpAsyncCommit();
  }
  int tile = ps.first, count = 0, kt = 0;  // the tile the wgmmas are on
  for (int it = 0; it < total; ++it) {
    cpAsyncWait<kStages - 2>();
    fenceProxyAsync();
    __syncthreads();  // slice it (and its tile's residual) landed; slice it - 1's stage is free
    const int next = it + kStages - 1;
    if (next < total) loadNext(next % kStages);
    cpAsyncCommit();
    sliceWgmmas<BM, BN>(acc, sa, sb, it % kStages, wg, kt == 0);
    wgmmaWait<0>();
    fenceRegs(acc);
    if (++kt == slices) {  // the tile's epilogue, while the next tiles' slices load
      const int m0 = ps.m0(tile), n0 = ps.n0(tile);
      uint8_t* slot = ring + (count % kStages) * BM * BN;
      if (e.z)
        pairsToTile<BN, true>(slot, slot, acc, warp, lane, n0, g.m, e.mult, e.bias, e.z_scale, e.qlo, e.qhi);
      else
        pairsToTile<BN, false>(slot, slot, acc, warp, lane, n0, g.m, e.mult, e.bias, 0.f, e.qlo, e.qhi);
      fenceRegs(acc);
      __syncthreads();  // the y tile is complete
      storeTile<BM, BN, Cfg::kThreads>(y, slot, m0, n0, m_total, g.m, tid);
      kt = 0;
      tile += ps.step;
      ++count;
    }
  }
  cpAsyncWait<0>();
#endif
}

template <int BM, int BN, int kStages, int MINB>
struct WgmmaPersistent {
  using Cfg = IgemmConfig<BM, BN, BM / 16, 1, kStages, MINB>;
  static constexpr auto kernel = wgmmaPersistentKernel<BM, BN, kStages, MINB>;
  static constexpr size_t kSmem = Cfg::kPipeBytes + static_cast<size_t>(kStages) * BM * BN + 1024;  // + alignment
  static int grid(const IgemmGeometry& g) {
    static std::atomic<uint64_t> opted{0};
    optIn(kernel, kSmem, opted);
    return oneWaveGrid(kernel, Cfg::kThreads, kSmem, g, BM, BN);
  }
  static void launch(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                     int grid, cudaStream_t s) {
    if (!e.y_int8 || e.ds_x || grid <= 0) return launchWgmma<BM, BN, kStages, MINB>(x, w, y, g, e, s);
    const int m_total = g.n * g.oh * g.ow;
    const int n_tiles = (g.m + BN - 1) / BN;
    const int tiles = (m_total + BM - 1) / BM * n_tiles;
    launchKernel(kernel, static_cast<unsigned>(grid), Cfg::kThreads, kSmem, s, x, w, static_cast<int8_t*>(y), g, e,
                 m_total, n_tiles, tiles);
  }
};
// 21: 48 KB of pipeline + 48 KB of ring, 22: 48 + 32 KB: two CTAs an SM; 23 (one warpgroup, the
// shape of the two-stage tile 17 that layer1's residual 1x1 layers take): 36 + 24 KB, three.
using WgmmaPersistent21 = WgmmaPersistent<128, 128, 3, 2>;
using WgmmaPersistent22 = WgmmaPersistent<128, 64, 4, 2>;
using WgmmaPersistent23 = WgmmaPersistent<64, 128, 3, 3>;

// The warp-specialized ping-pong form (tiles 26-27; kIgemmTiles: persistent, tma, opt-in; written in
// session 9; on an H200 in session 10 correct but slower than the best tile on 13 of ResNet-50's 14 1x1
// layers at batch 256, 1.15-2.6x, equal on layer4.2 conv3; then given its residual ring, below). Why: the
// probes (session 9, H100, ResNet-50 INT8 b256) put 0.24 ms of the engine's 4.5 in the int8 epilogue's
// arithmetic, mostly on the residual 1x1 layers whose tiles are one
// to four slices deep: a tiled CTA runs load, MMAs, epilogue one after the other, and the persistent
// tiles 21-23, whose threads both load and compute, stall their own loads during each epilogue. Here a
// CTA of three warpgroups (one an SM) walks the tiles blockIdx.x, + gridDim.x, ... of 64 pixels x BN
// channels, as CUTLASS's Hopper "ping-pong" kernels do:
// - the producer warpgroup: thread 0 queues every tile's x and w slices by TMA into a ring of kStages
//   stages (full[s]: the bytes landed; empty[s]: its consumer's wgmmas are done with it), thread 32 each
//   tile's residual z (a 64 x BN int8 box with the BN-byte swizzle: tileChunk<BN, true>'s layout) into the
//   next of its consumer's ring of kZDepth z / y tiles (zfull[t], zempty[t] for tile t of the ring: up to
//   kZDepth tiles ahead of the consumer); the other threads leave;
// - two consumer warpgroups take the tiles in turn (consumer c: the CTA's tiles c, c + 2, ...): the
//   product of a tile's slices (wgmma m64nBNk32, pipelined one group deep, each stage released once the
//   group after it is queued), then the register epilogue into the z / y tile in place (pairsToTile)
//   and its store (storeTile). Their main loops alternate (order[c]: the other consumer finished its
//   tile's product), so one consumer's epilogue runs while the other's MMAs do, and every slice
//   before a consumer's first one has landed before it waits: an mbarrier's parity wait cannot then
//   mistake a phase two back for the one it waits for.
// Phases: stage s's use k is the CTA's slice it = s + k kStages (full: parity k & 1; the producer waits
// empty's parity (k & 1) ^ 1, which passes at once for k = 0); consumer c's n-th tile is ring tile
// t = c kZDepth + n % kZDepth, whose use (n / kZDepth) it is: it waits zfull[t] parity (n / kZDepth) & 1
// (the producer zempty[t]'s, ^ 1), and order[c] parity n & 1 (consumer 1) or (n - 1) & 1 (consumer 0,
// from its second tile). tools/dev/pingpong_protocol.py plays the protocol under random timings and checks that every
// read sees its own slice and that nothing deadlocks. int8 y, 1x1 stride-1 unpadded layers without a
// fused downsample; the rest (and a driver without the tensor-map encoder) runs the TMA tile 24.
// No probes (QRT_CUDA_IGEMM_PROBE is ignored here).
#ifdef QRT_WGMMA_ON
__device__ __forceinline__ void mbarArrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smemAddr(bar)) : "memory");
}
// bar.sync on named barrier id (1-15) among `threads` threads (a multiple of 32).
__device__ __forceinline__ void namedSync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
#endif

template <int BN, int kStages, int kZDepth>
struct PingPongTile {
  static constexpr int kRows = 64;       // a consumer's tile: one warpgroup's wgmma rows
  static constexpr int kThreads = 384;   // the producer warpgroup and two consumers
  static constexpr size_t kA = size_t{kRows} * kBK, kB = size_t{BN} * kBK;  // a stage's x and w slices
  static constexpr size_t kTile = size_t{kRows} * BN;                        // a consumer's z / y tile
  static constexpr int kZTiles = 2 * kZDepth;  // consumer c's ring of kZDepth z / y tiles: c * kZDepth ..
  // Shared memory: kStages slices of x, kStages of w, the z / y tiles (1024-byte aligned: the 128-byte
  // swizzle's period), then the barriers.
  static constexpr size_t kTilesAt = kStages * (kA + kB);
  static constexpr size_t kBarsAt = kTilesAt + kZTiles * kTile;
  static constexpr int kFull = 0, kEmpty = kStages, kZFull = 2 * kStages, kZEmpty = kZFull + kZTiles,
                       kOrder = kZEmpty + kZTiles, kBars = kOrder + 2;
  static constexpr size_t kSmem = kBarsAt + kBars * sizeof(uint64_t) + 1024;  // + the alignment
  // The z box's rows are one swizzle span: TMA's 128-byte (64-byte) swizzle XORs a row's 16-byte chunks
  // by address bits 7-9 (7-8), which is tileChunk<128 (64), true>'s layout from a 1024-byte boundary.
  static constexpr CUtensorMapSwizzle kZSwizzle = BN == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B;
  static_assert(BN == 128 || BN == 64, "wgmma n128 or n64");
  static_assert(kTilesAt % 1024 == 0 && kTile % 1024 == 0, "the z / y tiles start on the swizzle's period");
};

template <int BN, int kStages, int kZDepth>
__global__ void __launch_bounds__(384, 1)
    wgmmaPingPongKernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                        const __grid_constant__ CUtensorMap tz, int8_t* __restrict__ y, IgemmGeometry g,
                        IgemmEpilogue e, int m_total, int n_tiles, int tiles) {
#ifdef QRT_WGMMA_ON
  pdlStart();  // before the first read of x (the TMA's too)
  using P = PingPongTile<BN, kStages, kZDepth>;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = smemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * P::kA;
  uint8_t* ty = smem + P::kTilesAt;
  uint64_t* bars = reinterpret_cast<uint64_t*>(smem + P::kBarsAt);
  const int tid = threadIdx.x, wg = tid >> 7;
  const int grid = static_cast<int>(gridDim.x), cta = static_cast<int>(blockIdx.x);
  const int mine = (tiles - cta + grid - 1) / grid;  // this CTA's tiles: cta, cta + grid, ...
  const int slices = (g.c + kBK - 1) / kBK;
  const bool with_z = e.z != nullptr;
  if (tid == 0) {
    for (int i = 0; i < P::kBars; ++i) mbarInit(&bars[i], 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();  // the barriers are initialised (the last block-wide barrier: the roles part here)
  auto origin = [&](int j, int* m0, int* n0) {  // the CTA's tile j
    const int t = cta + j * grid;
    *m0 = (t / n_tiles) * P::kRows;
    *n0 = (t % n_tiles) * BN;
  };
  if (wg == 0) {  // the producer warpgroup
    if (tid == 0) {
      for (int j = 0; j < mine; ++j) {
        int m0, n0;
        origin(j, &m0, &n0);
        for (int kt = 0; kt < slices; ++kt) {
          const int it = j * slices + kt, st = it % kStages;
          mbarWait(&bars[P::kEmpty + st], static_cast<uint32_t>(((it / kStages) & 1) ^ 1));
          tmaSlice(sa + st * P::kA, sb + st * P::kB, &tx, &tw, kt, m0, n0, P::kRows, BN, &bars[P::kFull + st]);
        }
      }
    } else if (tid == 32 && with_z) {
      for (int j = 0; j < mine; ++j) {
        int m0, n0;
        origin(j, &m0, &n0);
        const int n = j >> 1, zt = (j & 1) * kZDepth + n % kZDepth;  // consumer j & 1's n-th tile
        mbarWait(&bars[P::kZEmpty + zt], static_cast<uint32_t>(((n / kZDepth) & 1) ^ 1));
        mbarExpectTx(&bars[P::kZFull + zt], static_cast<uint32_t>(P::kTile));
        tmaLoad2d(ty + zt * P::kTile, &tz, n0, m0, &bars[P::kZFull + zt]);
      }
    }
    return;
  }
  const int c = wg - 1, ct = tid - 128 * wg, warp = ct >> 5, lane = tid & 31;
  int acc[BN / 2];
  for (int j = c, n = 0; j < mine; j += 2, ++n) {
    int m0, n0;
    origin(j, &m0, &n0);
    const int zt = c * kZDepth + n % kZDepth;  // this tile's z / y tile
    uint8_t* tile = ty + zt * P::kTile;
    if (j > 0) mbarWait(&bars[P::kOrder + c], static_cast<uint32_t>((c == 0 ? n - 1 : n) & 1));
    fenceRegs(acc);  // the tile's first slice writes them (sliceWgmmas)
    for (int kt = 0; kt < slices; ++kt) {
      const int it = j * slices + kt, st = it % kStages;
      mbarWait(&bars[P::kFull + st], static_cast<uint32_t>((it / kStages) & 1));
      sliceWgmmas<P::kRows, BN>(acc, sa, sb, st, 0, kt == 0);
      wgmmaWait<1>();  // the previous slice's group is done: its stage goes back to the producer
      if (kt > 0 && ct == 0) mbarArrive(&bars[P::kEmpty + (it - 1) % kStages]);
    }
    wgmmaWait<0>();
    fenceRegs(acc);
    if (ct == 0) {
      mbarArrive(&bars[P::kEmpty + (j * slices + slices - 1) % kStages]);
      mbarArrive(&bars[P::kOrder + (1 - c)]);  // the other consumer's next product may start
    }
    if (with_z) {
      mbarWait(&bars[P::kZFull + zt], static_cast<uint32_t>((n / kZDepth) & 1));
      pairsToTile<BN, true>(tile, tile, acc, warp, lane, n0, g.m, e.mult, e.bias, e.z_scale, e.qlo, e.qhi);
    } else {
      pairsToTile<BN, false>(tile, tile, acc, warp, lane, n0, g.m, e.mult, e.bias, 0.f, e.qlo, e.qhi);
    }
    namedSync(1 + c, 128);  // the y tile is complete
    storeTile<P::kRows, BN, 128>(y, tile, m0, n0, m_total, g.m, ct);
    fenceProxyAsync();        // these generic accesses before the next residual's TMA write of the tile
    namedSync(1 + c, 128);  // every thread is done with the tile
    if (with_z && ct == 0) mbarArrive(&bars[P::kZEmpty + zt]);
  }
#endif
}

template <int BN, int kStages, int kZDepth>
struct WgmmaPingPong {
  using P = PingPongTile<BN, kStages, kZDepth>;
  static constexpr auto kernel = wgmmaPingPongKernel<BN, kStages, kZDepth>;
  static int grid(const IgemmGeometry& g) {
    static std::atomic<uint64_t> opted{0};
    optIn(kernel, P::kSmem, opted);
    return oneWaveGrid(kernel, P::kThreads, P::kSmem, g, P::kRows, BN);
  }
  static void launch(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                     int grid, cudaStream_t s) {
    const int m_total = g.n * g.oh * g.ow;
    CUtensorMap tx{}, tw{}, tz{};
    if (!e.y_int8 || e.ds_x || grid <= 0 || !igemmUnit(g) ||
        !encodeBoxes(&tx, x, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.c), static_cast<uint64_t>(g.c),
                     P::kRows) ||
        !encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), static_cast<uint64_t>(igemmCPad(g.c)),
                     static_cast<uint64_t>(igemmCPad(g.c)), BN) ||
        (e.z && !encodeBoxes(&tz, e.z, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.m),
                             static_cast<uint64_t>(g.m), P::kRows, BN, P::kZSwizzle)))
      return launchWgmmaTma<128, BN, 5, BN == 128 ? 2 : 3>(x, w, y, g, e, s);  // tile 24 (25)
    const int n_tiles = (g.m + BN - 1) / BN;
    const int tiles = (m_total + P::kRows - 1) / P::kRows * n_tiles;
    launchKernel(kernel, static_cast<unsigned>(grid), P::kThreads, P::kSmem, s, tx, tw, tz, static_cast<int8_t*>(y),
                 g, e, m_total, n_tiles, tiles);
  }
};
// 26: six stages of 12 KB and eight 8 KB z / y tiles (137 KB); 27 (64 output channels a tile: layers of
// 64, layer1's conv1): eight stages of 8 KB and eight 4 KB tiles (97 KB). One CTA an SM. Session 9's form
// had one z / y tile a consumer: the next tile's z could load only once the last y was stored, and on
// one-slice layers (K = 64: one wgmma group a tile) each tile then waited out a whole load of z; on an
// H200 it ran 1.15-2.6x slower than the best other tile. Four a consumer keep up to 64 KB of z in
// flight an SM. That form (session 11, H200): correct, still 1.2-1.9x slower than the best tile on 13
// of ResNet-50's 14 1x1 layers (layer1 conv3: 286.7 us for ig27, 316.1 for ig26, against ig28's
// 180.1), equal on layer4.2 conv3: two consumer warpgroups an SM (8 warps) run the epilogues where
// ig28's five CTAs run 20 warps, fewer to hide its latencies.
using WgmmaPingPong26 = WgmmaPingPong<128, 6, 4>;
using WgmmaPingPong27 = WgmmaPingPong<64, 8, 4>;

// The streaming TMA tiles 41-42 (session 14; written after the device time, not yet run): a wave of
// CTAs each walking its tiles (blockIdx.x, + gridDim.x, ...) as one stream of slices, loaded by TMA
// kStages - 2 ahead across tile boundaries, and every tile's residual z by TMA into one of two
// buffers one tile ahead; the int32 staging tile of the epilogue does not alias the pipeline. So the
// next tile's x, w and z land while this tile's epilogue runs. Why: ncu (session 14, H200, ResNet-50
// INT8 b256) found tile 24 on layer3's residual 1x1 layers latency-bound: 28% of DRAM, half the issue
// slots, about 6 us a CTA for ~2 us of work, a fifth of its stall samples waiting for a slice, as each
// CTA of the tiled kernels loads only after it starts and computes nothing while it loads. The
// earlier persistent tiles (7-9, 21-23) loaded by every thread's cp.async and 21-23 took the register
// epilogue through a ring; both lost to the tiled kernels (bench/gpu/NOTES.md, sessions 5-8).
//
// Shared memory: the stages (x and w slices, 64-byte swizzle, as tile 24's), the int32 tile (the
// staged epilogue's, epilogueTile), two z tiles of BM x BN bytes (rows of BN bytes: the layout the
// staged epilogue reads), the barriers. Ordering: a stage is reloaded only after the barrier of the
// slice two later (every warpgroup retired its wgmmas: wait_group 1, as the pipelined kernels); a z
// buffer is reloaded only after the barrier that ends the epilogue of the tile that read it; the
// int32 tile likewise. A stage's barrier completes once per use (parity: its use count), a z buffer's
// once per tile that uses it. tools/dev/stream_protocol.py plays this protocol under random timings
// (2,000 trials clean; a load one slice further ahead, a wrong parity, a residual a tile early or a
// missing barrier each fail). 1x1 stride-1 unpadded layers; a fused downsample, a QRT_CUDA_IGEMM_PROBE
// or a tensor the encoder refuses runs the tiled TMA kernel of the same shape.
template <int BM, int BN, int kStages, int MINB>
struct StreamLayout {
  using Cfg = IgemmConfig<BM, BN, BM / 16, 1, kStages, MINB>;
  static constexpr size_t kZ = static_cast<size_t>(BM) * BN;            // one residual tile
  static constexpr size_t kScAt = Cfg::kPipeBytes;                       // the int32 tile, after the stages
  static constexpr size_t kZAt = kScAt + Cfg::kEpiBytes;                 // two z tiles
  static constexpr size_t kBarsAt = kZAt + 2 * kZ;                       // kStages + 2 mbarriers
  static constexpr size_t kSmem = kBarsAt + (kStages + 2) * sizeof(uint64_t) + 1024;  // + alignment
  static_assert(kScAt % 1024 == 0 && kZAt % 1024 == 0 && kZ % 1024 == 0, "TMA destinations 1024-aligned");
};

template <int BM, int BN, int kStages, int MINB>
__global__ void __launch_bounds__(BM / 16 * 32, MINB)
    wgmmaTmaStreamKernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                         const __grid_constant__ CUtensorMap tz, void* __restrict__ y, IgemmGeometry g,
                         IgemmEpilogue e, int m_total, int n_tiles, int tiles) {
#ifdef QRT_WGMMA_ON
  pdlStart();  // before the first read of x (the TMA's too)
  using L = StreamLayout<BM, BN, kStages, MINB>;
  using Cfg = typename L::Cfg;
  constexpr int kAhead = kStages - 2;  // the pipelined kernels' distance (wgmma running across one barrier)
  static_assert(kAhead >= 1, "three stages or more");
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = smemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  uint8_t* sa = smem;
  uint8_t* sb = smem + kStages * BM * kBK;
  int* sc = reinterpret_cast<int*>(smem + L::kScAt);
  uint8_t* sz = smem + L::kZAt;
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + L::kBarsAt);
  uint64_t* zfull = full + kStages;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  const int slices = (g.c + kBK - 1) / kBK;  // a 1x1 layer's
  const int step = static_cast<int>(gridDim.x), first = static_cast<int>(blockIdx.x);
  const int mine = first < tiles ? (tiles - first + step - 1) / step : 0;  // this CTA's tiles
  const int total = mine * slices;                                         // its stream of slices
  auto origin = [&](int j, int* m0, int* n0) {  // tile j of this CTA
    const int t = first + j * step;
    *m0 = (t / n_tiles) * BM;
    *n0 = (t % n_tiles) * BN;
  };
  auto issue = [&](int s) {  // thread 0: slice s of the stream into stage s % kStages
    const int j = s / slices, kt = s - j * slices, st = s % kStages;
    int m0, n0;
    origin(j, &m0, &n0);
    tmaSlice(sa + st * BM * kBK, sb + st * BN * kBK, &tx, &tw, kt, m0, n0, BM, BN, &full[st]);
  };
  auto issueZ = [&](int j) {  // thread 0: tile j's residual into z buffer j & 1
    int m0, n0;
    origin(j, &m0, &n0);
    mbarExpectTx(&zfull[j & 1], static_cast<uint32_t>(BM * BN));
    tmaLoad2d(sz + (j & 1) * L::kZ, &tz, n0, m0, &zfull[j & 1]);
  };
  if (tid == 0) {
    for (int i = 0; i < kStages + 2; ++i) mbarInit(&full[i], 1);  // full[kStages..] are zfull
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();  // the barriers are initialised
  if (tid == 0) {
    for (int s = 0; s < kAhead && s < total; ++s) issue(s);
    if (e.z && mine > 0) issueZ(0);
  }
  int acc[BN / 2];
  for (int j = 0; j < mine; ++j) {
    int m0, n0;
    origin(j, &m0, &n0);
    // z buffer (j + 1) & 1's last reader, tile j - 1's epilogue, is past the barrier that ended it.
    if (tid == 0 && e.z && j + 1 < mine) issueZ(j + 1);
    for (int kt = 0; kt < slices; ++kt) {
      const int s = j * slices + kt;
      mbarWait(&full[s % kStages], static_cast<uint32_t>((s / kStages) & 1));
      __syncthreads();  // every warpgroup retired slice s - 2's wgmmas: that stage is free
      if (tid == 0 && s + kAhead < total) issue(s + kAhead);
      if (kt == 0)
        sliceWgmmasFirst<BM, BN>(acc, sa, sb, s % kStages, wg);
      else
        sliceWgmmas<BM, BN>(acc, sa, sb, s % kStages, wg, false);
      wgmmaWait<1>();
    }
    wgmmaWait<0>();
    fenceRegs(acc);
    // The int32 tile's last reader, tile j - 1's epilogue, is past the barrier that ended it.
    stageWgmmaAcc<BN>(sc, Cfg::kLdc, warp * 16, acc, lane);
    if (e.z) mbarWait(&zfull[j & 1], static_cast<uint32_t>((j >> 1) & 1));
    __syncthreads();  // the int32 tile is whole
    epilogueTile<Cfg>(y, sc, sz + (j & 1) * L::kZ, m0, n0, m_total, g, e, tid);
    __syncthreads();  // the int32 tile and z buffer j & 1 are free
  }
#endif
}

template <int BM, int BN, int kStages, int MINB>
struct WgmmaStream {
  using L = StreamLayout<BM, BN, kStages, MINB>;
  static constexpr auto kernel = wgmmaTmaStreamKernel<BM, BN, kStages, MINB>;
  static int grid(const IgemmGeometry& g) {
    static std::atomic<uint64_t> opted{0};
    optIn(kernel, L::kSmem, opted);
    return oneWaveGrid(kernel, L::Cfg::kThreads, L::kSmem, g, BM, BN);
  }
  static void launch(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                     int grid, cudaStream_t s) {
    const int m_total = g.n * g.oh * g.ow;
    CUtensorMap tx{}, tw{}, tz{};
    const bool maps =
        igemmUnit(g) &&
        encodeBoxes(&tx, x, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.c), static_cast<uint64_t>(g.c), BM) &&
        encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), static_cast<uint64_t>(igemmCPad(g.c)),
                    static_cast<uint64_t>(igemmCPad(g.c)), BN) &&
        (!e.z || encodeBoxes(&tz, e.z, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.m),
                             static_cast<uint64_t>(g.m), BM, BN, CU_TENSOR_MAP_SWIZZLE_NONE));
    if (grid <= 0 || e.ds_x || e.probe || !maps) return launchWgmmaTma<BM, BN, kStages, MINB>(x, w, y, g, e, s);
    if (!e.z) tz = tx;  // unread
    const int n_tiles = (g.m + BN - 1) / BN;
    const int tiles = (m_total + BM - 1) / BM * n_tiles;
    launchKernel(kernel, static_cast<unsigned>(grid), L::Cfg::kThreads, L::kSmem, s, tx, tw, tz, y, g, e, m_total,
                 n_tiles, tiles);
  }
};
// 41: 128 x 64 (two warpgroups; 48 KB of stages + 36 KB int32 tile + 16 KB of z: two CTAs an SM, 16 warps);
// 42: 64 x 128 (one warpgroup; 48 + 34 + 16 KB: two CTAs an SM, 8 warps).
using WgmmaStream41 = WgmmaStream<128, 64, 4, 2>;
using WgmmaStream42 = WgmmaStream<64, 128, 4, 2>;

}  // namespace

int wgmmaPersistentGrid(const IgemmGeometry& g, int tile) {
  switch (tile) {
    case 21: return WgmmaPersistent21::grid(g);
    case 22: return WgmmaPersistent22::grid(g);
    case 23: return WgmmaPersistent23::grid(g);
    case 26: return WgmmaPingPong26::grid(g);
    case 27: return WgmmaPingPong27::grid(g);
    case 41: return WgmmaStream41::grid(g);
    case 42: return WgmmaStream42::grid(g);
    case 43: return haloGrid(g);
    case 44: return residentGrid<128, 2>(g);
    case 45: return residentGrid<64, 2>(g);
    case 46: return residentGrid<128, 3>(g);
    case 47: return residentGrid<64, 3>(g);
    default: return 0;
  }
}

void qconvWgmma(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int grid, cudaStream_t s) {
  switch (tile) {
    case 21: return WgmmaPersistent21::launch(x, w, y, g, e, grid, s);
    case 22: return WgmmaPersistent22::launch(x, w, y, g, e, grid, s);
    case 23: return WgmmaPersistent23::launch(x, w, y, g, e, grid, s);
    case 26: return WgmmaPingPong26::launch(x, w, y, g, e, grid, s);
    case 27: return WgmmaPingPong27::launch(x, w, y, g, e, grid, s);
    case 41: return WgmmaStream41::launch(x, w, y, g, e, grid, s);
    case 42: return WgmmaStream42::launch(x, w, y, g, e, grid, s);
    // 43: the halo tile where it takes the layer, else tile 34's TMA im2col kernel
    case 43:
      if (qconvHalo(x, w, static_cast<int8_t*>(y), g, e, grid, s)) return;
      return launchWgmmaIm2col<128, 64, 4, 3>(x, w, y, g, e, s);
    // 44-47: resident weights where they take the layer, else tile 24 (itself the cp.async form off 1x1 layers)
    case 44:
    case 45:
    case 46:
    case 47: {
      auto* yy = static_cast<int8_t*>(y);
      const bool done = tile == 44   ? qconvResident<128, 2>(x, w, yy, g, e, grid, s)
                        : tile == 45 ? qconvResident<64, 2>(x, w, yy, g, e, grid, s)
                        : tile == 46 ? qconvResident<128, 3>(x, w, yy, g, e, grid, s)
                                     : qconvResident<64, 3>(x, w, yy, g, e, grid, s);
      if (!done) launchWgmmaTma<128, 128, 5, 2>(x, w, y, g, e, s);
      return;
    }
    // 36-37: 28-29 with the wide int8 epilogue (epilogueWide; float y runs the staged form)
    case 36: return launchWgmma<64, 128, 2, 5, false, false, true>(x, w, y, g, e, s);
    case 37: return launchWgmma<64, 64, 2, 8, false, false, true>(x, w, y, g, e, s);
    // 34-35: the TMA kernel with x in im2col mode (the other layers), four stages
    case 34: return launchWgmmaIm2col<128, 64, 4, 3>(x, w, y, g, e, s);
    case 35: return launchWgmmaIm2col<128, 128, 4, 2>(x, w, y, g, e, s);
    // 24-25: the pipelined 14-15 with TMA loads (1x1 stride-1 layers)
    case 24: return launchWgmmaTma<128, 128, 5, 2>(x, w, y, g, e, s);
    case 25: return launchWgmmaTma<128, 64, 5, 3>(x, w, y, g, e, s);
    // 38-40: three stages (one slice ahead), more CTAs an SM (qconv_igemm_launch.h)
    case 38: return launchWgmmaTma<64, 128, 3, 4>(x, w, y, g, e, s);
    case 39: return launchWgmmaTma<128, 64, 3, 4>(x, w, y, g, e, s);
    case 40: return launchWgmmaTma<64, 64, 3, 6>(x, w, y, g, e, s);
    case 10: return launchWgmma<128, 128, 4, 2>(x, w, y, g, e, s);
    case 11: return launchWgmma<128, 64, 4, 2>(x, w, y, g, e, s);
    case 12: return launchWgmma<64, 128, 4, 2>(x, w, y, g, e, s);
    case 13: return launchWgmma<64, 64, 4, 3>(x, w, y, g, e, s);
    // 14-15: pipelined (5 stages: the loads still run 3 slices ahead)
    case 14: return launchWgmma<128, 128, 5, 2, true>(x, w, y, g, e, s);
    case 15: return launchWgmma<128, 64, 5, 3, true>(x, w, y, g, e, s);
    // 16-17: two stages, 4 CTAs an SM (46 and 44 KB of shared memory, at most 64 and 128 registers):
    // more tiles loading at once on the shallow memory-bound layers, as the mma.sync tiles 4-6.
    case 16: return launchWgmma<128, 64, 2, 4>(x, w, y, g, e, s);
    case 17: return launchWgmma<64, 128, 2, 4>(x, w, y, g, e, s);
    // 28-29: 17 with more CTAs an SM (44 KB and 23 KB of shared memory, at most 96 and 64 registers)
    case 28: return launchWgmma<64, 128, 2, 5>(x, w, y, g, e, s);
    case 29: return launchWgmma<64, 64, 2, 8>(x, w, y, g, e, s);
    // 30-31: 28-29 with the register epilogue (float y runs the staged form)
    case 30: return launchWgmma<64, 128, 2, 5, false, true>(x, w, y, g, e, s);
    case 31: return launchWgmma<64, 64, 2, 8, false, true>(x, w, y, g, e, s);
    // 32-33: pipelined, three stages (the loads one slice ahead), 4 CTAs an SM
    case 32: return launchWgmma<128, 64, 3, 4, true>(x, w, y, g, e, s);
    case 33: return launchWgmma<64, 128, 3, 4, true>(x, w, y, g, e, s);
    // 18-20: the register epilogue (int8 y; WgmmaTile::kRegEpi)
    case 18: return launchWgmma<128, 128, 4, 2, false, true>(x, w, y, g, e, s);
    case 19: return launchWgmma<128, 64, 4, 3, false, true>(x, w, y, g, e, s);
    case 20: return launchWgmma<128, 128, 5, 2, true, true>(x, w, y, g, e, s);
    default: return;
  }
}

}  // namespace qrt::cuda::launch
