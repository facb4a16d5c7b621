// Tiles 44-47 ("ig44".."ig47", qconv_igemm_launch.h): 1x1 stride-1 int8 convolutions of at most 256
// input channels (ResNet-50's residual conv3 layers of layer1-3 and its 256-channel conv1 layers) with
// the weights resident. Why: on those memory-bound layers every CTA of the tiled kernels (24, 28)
// loads its weights again: tile 28 on layer1 conv3 reads 205 MB of weights from L2 (25,088 tiles x 8
// KB of a 16 KB matrix) beside 51 MB of x and 410 MB of residual and output; ncu (session 14, H200)
// found tile 24 on layer3's latency-bound (28% of DRAM) and the persistent tiles that reloaded their
// weights per tile (21-23, 41-42) slower than the tiled ones.
//
// A wave of CTAs (residentGrid), each owning one block of 128 output channels: the block's weights
// (C_pad x 128 bytes, at most 32 KB) by TMA once, then the CTA walks its pixel tiles m0 = BM (first +
// j * step) with two or three buffers of x (all the tile's slices, 128 or 64 bytes deep:
// residentWideSlices) and residual z (BM x 128 bytes, the 128-byte swizzle: tileChunk<128, true>'s
// layout), the next tiles loading by TMA while tile j computes and stores. The epilogue is the
// register one in place: each thread reads its residual bytes from the z buffer and writes its y
// bytes over them (pairsToTile); one thread then stores the tile by TMA (the same swizzled box as z's).
// Ordering: a buffer is reloaded only after the barrier that ends its tile (its wgmmas waited for, its
// epilogue written and fenced for the async proxy) and after its TMA store has read it
// (bulkWaitRead); the CTA ends after its stores complete.
//
// Measured (H200, ResNet-50 INT8 b256): session 15 (16-byte stores by the CTA): layer2's residual conv3
// 115.6 (tile 28) -> 99.9 us, layer1's 181.2 -> 175.5, layer1.0's downsample 138.2 -> 132.5; layer3's
// residual conv3 79.3 against tile 24's 76.3; three buffers won nowhere. Session 16, TMA stores (one
// barrier a tile instead of two, no store loop), the same engine: layer1 conv3 182 -> 160 us, layer1.0's
// downsample 143 -> 122, layer2 conv3 106.5 -> 95.3; 66,318 -> 68,838 img/s.
//
// BM 128 (44, 46: two warpgroups) or 64 (45, 47: one); two buffers (44-45) or three (46-47: two tiles
// loading ahead). Strided 1x1 layers read x by TMA's im2col mode. int8 y only; no fused
// downsample (a persistent tile); qconvWgmma runs tile 24 for any other layer or epilogue. Tried and
// dropped (session 16): the next tile's wgmmas queued before this tile's epilogue into a second
// accumulator set, to hide their latency (~20 us a layer by the probes): ptxas serializes wgmmas whose
// accumulators other instructions read while one is in flight (C7514), whichever set they write.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "backends/cuda/sm90a/wgmma_common.cuh"

namespace qrt::cuda::launch {

namespace {

constexpr int kResBN = 128;

template <int BM, int kBufs>
struct ResidentLayout {
  static constexpr int kThreads = BM / 16 * 32;
  static constexpr size_t kZ = static_cast<size_t>(BM) * kResBN;  // a z / y tile
  size_t w_at = 0, a_at, a_size, z_at, const_at, bars_at, smem;
  __host__ __device__ explicit ResidentLayout(int slices) {
    a_at = static_cast<size_t>(slices) * kResBN * kBK;
    a_size = static_cast<size_t>(slices) * BM * kBK;
    z_at = a_at + kBufs * a_size;
    const_at = z_at + kBufs * kZ;
    bars_at = const_at + 2 * kResBN * sizeof(float);
    smem = bars_at + (kBufs + 1) * sizeof(uint64_t) + 1024;  // + alignment
  }
};

template <int BM, int kBufs, int kSlice>
__global__ void __launch_bounds__(BM / 16 * 32, 128 / BM * 2)
    residentKernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw,
                   const __grid_constant__ CUtensorMap tz, const __grid_constant__ CUtensorMap ty, IgemmGeometry g,
                   IgemmEpilogue e, int n_tiles, int m_tiles, bool strided) {
#ifdef QRT_WGMMA_ON
  using L = ResidentLayout<BM, kBufs>;
  const int slices = (g.c + kBK - 1) / kBK;  // of 64 bytes (the layout's unit)
  const L lay(slices);
  const int loads = slices * kBK / kSlice;  // TMA boxes (and wgmma stages) of kSlice bytes a tile
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = smemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  uint8_t* sw = smem;
  uint8_t* sa = smem + lay.a_at;
  uint8_t* sz = smem + lay.z_at;
  float* cm = reinterpret_cast<float*>(smem + lay.const_at);
  float* cb = cm + kResBN;
  uint64_t* wbar = reinterpret_cast<uint64_t*>(smem + lay.bars_at);
  uint64_t* bar = wbar + 1;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  const BlockWalk walk(n_tiles, m_tiles, kResBN);
  const int n0 = walk.n0, mine = walk.mine;
  const bool with_z = e.z != nullptr;
  // A whole block of channels (every ResNet layer's) skips pairsToTile's per-column test.
  const bool full = n0 + kResBN <= g.m;
  auto issue = [&](int j) {  // thread 0: tile j's x slices and residual into buffer j % kBufs
    bulkWaitRead<0>();  // the buffer's last store (tile j - kBufs's, the latest queued) has read it
    const int m0 = walk.tile(j) * BM, b = j % kBufs;
    uint8_t* a = sa + b * lay.a_size;
    mbarExpectTx(&bar[b], static_cast<uint32_t>(lay.a_size + (with_z ? L::kZ : 0)));
    if (strided) {  // a strided layer: x by TMA's im2col mode from the tile's first pixel
      const int ox = m0 % g.ow, rest = m0 / g.ow;
      const int w0 = ox * g.sw - g.pw, h0 = rest % g.oh * g.sh - g.ph, img = rest / g.oh;
      for (int s = 0; s < loads; ++s) tmaIm2col(a + s * BM * kSlice, &tx, s * kSlice, w0, h0, img, 0, 0, &bar[b]);
    } else {
      for (int s = 0; s < loads; ++s) tmaLoad2d(a + s * BM * kSlice, &tx, s * kSlice, m0, &bar[b]);
    }
    if (with_z) tmaLoad2d(sz + b * L::kZ, &tz, n0, m0, &bar[b]);
  };
  // Tile j's wgmmas into acc, queued as one group (not waited for), once its buffer has landed.
  auto mma = [&](int(&acc)[kResBN / 2], int j) {
    mbarWait(&bar[j % kBufs], static_cast<uint32_t>((j / kBufs) & 1));
    const uint8_t* a = sa + (j % kBufs) * lay.a_size;
    if (e.probe & 2) {  // QRT_CUDA_IGEMM_PROBE (measurement only): no MMAs, zeros
#pragma unroll
      for (int i = 0; i < kResBN / 2; ++i) acc[i] = 0;
    } else if constexpr (kSlice == 128) {
      wideSliceWgmmas<BM, kResBN, true>(acc, a, sw, 0, wg);
      for (int s = 1; s < loads; ++s) wideSliceWgmmas<BM, kResBN, false>(acc, a, sw, s, wg);
    } else {
      sliceWgmmasFirst<BM, kResBN>(acc, a, sw, 0, wg);
      for (int s = 1; s < slices; ++s) sliceWgmmas<BM, kResBN>(acc, a, sw, s, wg, false);
    }
  };
  // Tile j's epilogue from acc (its wgmmas waited for) in place over its residual, then its TMA store.
  auto finish = [&](int(&acc)[kResBN / 2], int j) {
    fenceRegs(acc);
    uint8_t* t = sz + (j % kBufs) * L::kZ;
    if (e.probe & 1) {  // measurement only: no epilogue (the buffer's bytes are stored as they are)
    } else if (with_z && full) {
      pairsToTile<kResBN, true, true>(t, t, acc, warp, lane, n0, g.m, cm - n0, cb - n0, e.z_scale, e.qlo, e.qhi);
    } else if (with_z) {
      pairsToTile<kResBN, true>(t, t, acc, warp, lane, n0, g.m, cm - n0, cb - n0, e.z_scale, e.qlo, e.qhi);
    } else if (full) {
      pairsToTile<kResBN, false, true>(t, t, acc, warp, lane, n0, g.m, cm - n0, cb - n0, 0.f, e.qlo, e.qhi);
    } else {
      pairsToTile<kResBN, false>(t, t, acc, warp, lane, n0, g.m, cm - n0, cb - n0, 0.f, e.qlo, e.qhi);
    }
    fenceProxyAsync();  // this thread's generic writes of the tile, for the TMA store's reads
    __syncthreads();    // the y tile is whole; every wgmma and epilogue read of the buffer is done
    if (tid == 0) {
      tmaStore2d(&ty, n0, walk.tile(j) * BM, t);
      bulkCommit();
    }
  };
  if (tid == 0) {
    for (int i = 0; i <= kBufs; ++i) mbarInit(&wbar[i], 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    // The weights and the epilogue's constants are the engine's: read before the wait for the kernel
    // before this one.
    mbarExpectTx(wbar, static_cast<uint32_t>(slices * kResBN * kBK));
    for (int s = 0; s < loads; ++s) tmaLoad2d(sw + s * kResBN * kSlice, &tw, s * kSlice, n0, wbar);
  }
  blockConstants(cm, cb, e, n0, kResBN, g.m, tid, L::kThreads);
  __syncthreads();  // the barriers are initialised, the constants written
  pdlStart();       // before the first read of x or z
  if (tid == 0)
    for (int j = 0; j < kBufs - 1 && j < mine; ++j) issue(j);
  mbarWait(wbar, 0);
  int acc[kResBN / 2];
  for (int j = 0; j < mine; ++j) {
    // Buffer (j + kBufs - 1) % kBufs's last readers, tile j - 1's wgmmas and epilogue, are past the
    // barrier that ended it.
    if (tid == 0 && j + kBufs - 1 < mine) issue(j + kBufs - 1);
    mma(acc, j);
    wgmmaWait<0>();
    finish(acc, j);
  }
  if (tid == 0) bulkWait<0>();  // the stores complete before the CTA (and its shared memory) ends
#endif
}

// x and w by TMA in boxes 128 bytes deep (the 128-byte swizzle; wgmma's descriptors smemDesc128)
// where the padded depth is a multiple of 128, else 64 (QRT_CUDA_RESIDENT_SLICE=64: always 64). H200,
// session 16, the tuner's times of the same tiles (ResNet-50 INT8 b256): layer1.1 conv1 91.0 -> 85.7 us,
// layer2.0 conv1 113.3 -> 111.7, layer2 conv3 90.9 -> 89.7, layer3 conv3 74.3 -> 72.6; the engine
// 68,880 -> 69,090 img/s.
bool residentWideSlices(const IgemmGeometry& g) {
  static const bool on = [] {
    const char* v = std::getenv("QRT_CUDA_RESIDENT_SLICE");
    return !(v && std::string(v) == "64");
  }();
  return on && igemmCPad(g.c) % 128 == 0;
}

template <int BM, int kBufs>
auto residentKernelFor(bool wide) {
  return wide ? residentKernel<BM, kBufs, 128> : residentKernel<BM, kBufs, 64>;
}

template <int BM, int kBufs>
int residentPerSm(size_t smem, bool wide) {
  static std::atomic<uint64_t> opted[2] = {0, 0};
  const auto kernel = residentKernelFor<BM, kBufs>(wide);
  optIn(kernel, ResidentLayout<BM, kBufs>(kResidentMaxSlices).smem, opted[wide]);
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, ResidentLayout<BM, kBufs>::kThreads, smem) !=
      cudaSuccess)
    return 0;
  return per_sm;
}

}  // namespace

template <int BM, int kBufs>
int residentGrid(const IgemmGeometry& g) {
  const ResidentLayout<BM, kBufs> lay(static_cast<int>(igemmCPad(g.c) / kBK));
  return ChannelBlocks(g, BM, kResBN).grid(residentPerSm<BM, kBufs>(lay.smem, residentWideSlices(g)));
}

template <int BM, int kBufs>
bool qconvResident(const int8_t* x, const int8_t* w, int8_t* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                   int grid, cudaStream_t s) {
  if (!residentFits(g) || !e.y_int8 || e.ds_x || (e.probe & 4) || grid <= 0) return false;
  const int m_total = g.n * g.oh * g.ow;
  const ChannelBlocks blocks(g, BM, kResBN);
  const ResidentLayout<BM, kBufs> lay(static_cast<int>(igemmCPad(g.c) / kBK));
  CUtensorMap tx{}, tw{}, tz{}, ty{};
  const bool wide = residentWideSlices(g);
  const uint32_t depth = wide ? 128 : kBK;
  const CUtensorMapSwizzle sw = wide ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B;
  if (!(igemmUnit(g) ? encodeBoxes(&tx, x, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.c),
                                    static_cast<uint64_t>(g.c), BM, depth, sw)
                     : encodeIm2col(&tx, x, g, BM, depth, sw)) ||
      !encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), static_cast<uint64_t>(igemmCPad(g.c)),
                   static_cast<uint64_t>(igemmCPad(g.c)), kResBN, depth, sw) ||
      (e.z && !encodeBoxes(&tz, e.z, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.m),
                           static_cast<uint64_t>(g.m), BM, kResBN, CU_TENSOR_MAP_SWIZZLE_128B)))
    return false;
  if (!encodeBoxes(&ty, y, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.m), static_cast<uint64_t>(g.m), BM,
                   kResBN, CU_TENSOR_MAP_SWIZZLE_128B))
    return false;
  if (!e.z) tz = tx;  // unread
  if (residentPerSm<BM, kBufs>(lay.smem, wide) < 1) return false;
  launchKernel(residentKernelFor<BM, kBufs>(wide), static_cast<unsigned>(blocks.perBlock(grid) * blocks.n_tiles),
               ResidentLayout<BM, kBufs>::kThreads, lay.smem, s, tx, tw, tz, ty, g, e, blocks.n_tiles, blocks.m_tiles,
               !igemmUnit(g));
  return true;
}

#define QRT_RESIDENT(BM, BUFS)                                                                          \
  template int residentGrid<BM, BUFS>(const IgemmGeometry&);                                            \
  template bool qconvResident<BM, BUFS>(const int8_t*, const int8_t*, int8_t*, const IgemmGeometry&,    \
                                        const IgemmEpilogue&, int, cudaStream_t);
QRT_RESIDENT(128, 2)
QRT_RESIDENT(64, 2)
QRT_RESIDENT(128, 3)
QRT_RESIDENT(64, 3)
#undef QRT_RESIDENT

}  // namespace qrt::cuda::launch
