// Tile 43 ("ig43", qconv_igemm_launch.h): a 3x3 / stride 1 / pad 1 int8 convolution of at most 64
// input channels on Hopper's warpgroup MMA, with x read once per tile as a halo instead of once per
// tap. Why: ncu (session 14, H200, ResNet-50 INT8 b256) found layer1's 3x3 (56 x 56, 64 -> 64 channels,
// TMA im2col tile 34, 125 us x 3, FP16's cuDNN 130) bound by L2: each of the 9 taps re-reads the tile's
// pixels (9 x 51 MB) and every 128-pixel tile re-reads its 36 KB of weights (226 MB), 57% of L2's
// throughput for ~60 GOP of MMAs.
//
// The kernel is persistent: a wave of CTAs (haloGrid), each owning one block of 64 output channels,
// loads that block's weights once (nine 64 x 64 taps, 36 KB, by TMA) and walks its pixel tiles
// m0 = 128 (first + j * step). A tile's halo is the rows of x from pixel m0 - W - 1 to m0 + 128 + W
// (flattened n, h, w: one 2-D TMA box of 128 + 2W + 2 rows of 64 bytes, 64-byte swizzle; rows before
// the first or past the last pixel, and channels past C, read as zeros), double-buffered: tile j + 1's
// halo loads while tile j computes. Output pixel p's tap (dh, dw) is halo row p - m0 + W + 1 + dh W + dw;
// where (h + dh, w + dw) falls outside the image the row is the zero row instead (padding; this also
// keeps a row from wrapping into the neighbouring image row). The A operand therefore cannot come
// from a shared-memory descriptor (a tap shifts rows by one, off the 8-row core matrices): each warp
// gathers its 16 rows with ldmatrix (one row address a lane, the swizzled chunk) into wgmma's register
// fragment (mma.sync m16n8k32's A layout), a window row (3 taps x 2 k-steps, 24 registers) at a time in
// two register sets, each followed by its 6 wgmmas m64n64k32 (A from registers, B by descriptor from the
// resident weights); all 72 fragment registers at once spilled, and ptxas serialized the wgmmas. The
// epilogue is the register one (pairsToTile into an int8 tile, storeTile's 16-byte rows) with the
// block's constants from shared memory: int8 y, no residual.
//
// Ordering: the weights' and each halo buffer's mbarrier (a buffer's parity: its use count); a halo
// buffer is reloaded (tile j + 2) only after the barrier that follows tile j's ldmatrix; the y tile is
// rewritten only after the next tile's post-ldmatrix barrier, which every thread reaches after its
// storeTile. A register set is gathered again only after the wgmmas that read it have waited, and stays
// live until then (fenceFrags): wgmma reads it asynchronously.
//
// Takes (haloFits): 3x3, stride 1, pad 1, dilation 1, C <= 64, W <= 63 (the box's 256 rows), int8 y,
// no residual or fused downsample; qconvWgmma runs tile 34 (TMA im2col) for any other layer.
#include <algorithm>

#include "backends/cuda/sm90a/wgmma_common.cuh"

namespace qrt::cuda::launch {

namespace {

constexpr int kHaloBM = 128, kHaloBN = 64, kHaloThreads = 256, kHaloTaps = 9;

struct HaloLayout {
  static constexpr size_t kTap = static_cast<size_t>(kHaloBN) * kBK;            // one tap's weights: 4 KB
  static constexpr size_t kHalo = static_cast<size_t>(kHaloMaxRows) * kBK;      // a halo buffer: 16 KB
  static constexpr size_t kHaloAt = kHaloTaps * kTap;                           // after the weights
  static constexpr size_t kZeroAt = kHaloAt + 2 * kHalo;                        // a zero row (64 bytes)
  static constexpr size_t kYAt = kZeroAt + 1024;                                // the int8 y tile
  static constexpr size_t kConstAt = kYAt + static_cast<size_t>(kHaloBM) * kHaloBN;  // the block's mult, bias
  static constexpr size_t kBarsAt = kConstAt + 2 * kHaloBN * sizeof(float);
  static constexpr size_t kSmem = kBarsAt + 3 * sizeof(uint64_t) + 1024;        // + alignment
  static_assert(kHaloAt % 1024 == 0 && kHalo % 1024 == 0 && kYAt % 1024 == 0, "TMA destinations 1024-aligned");
};

#ifdef QRT_WGMMA_ON
// D[64 x 64] (+)= A[64 x 32] . B[64 x 32]^T with A from registers (the warp's m16n8k32 fragment), B
// by descriptor; acc 0 writes D.
__device__ __forceinline__ void wgmma64Rs(int (&d)[32], const uint32_t (&a)[4], uint64_t b, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(acc));
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

template <int R>
__device__ __forceinline__ void fenceFrags(uint32_t (&a)[R][2][4]) {
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int k = 0; k < 2; ++k)
#pragma unroll
      for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(a[i][k][j])::"memory");
}
#endif

__global__ void __launch_bounds__(kHaloThreads, 2)
    haloKernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, int8_t* __restrict__ y,
               IgemmGeometry g, IgemmEpilogue e, int m_total, int n_tiles, int m_tiles) {
#ifdef QRT_WGMMA_ON
  using L = HaloLayout;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  const uint32_t raw = smemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw & 1023)) & 1023);
  uint8_t* sw = smem;
  uint8_t* halo = smem + L::kHaloAt;
  uint8_t* zero = smem + L::kZeroAt;
  uint8_t* ty = smem + L::kYAt;
  uint64_t* wbar = reinterpret_cast<uint64_t*>(smem + L::kBarsAt);
  uint64_t* hbar = wbar + 1;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const BlockWalk walk(n_tiles, m_tiles, kHaloBN);
  const int n0 = walk.n0, mine = walk.mine;
  const int W = g.w, rows = kHaloBM + 2 * W + 2;
  auto issueHalo = [&](int j) {  // thread 0: tile j's halo into buffer j & 1
    const int m0 = walk.tile(j) * kHaloBM;
    mbarExpectTx(&hbar[j & 1], static_cast<uint32_t>(rows * kBK));
    tmaLoad2d(halo + (j & 1) * L::kHalo, &tx, 0, m0 - W - 1, &hbar[j & 1]);
  };
  if (tid == 0) {
    for (int i = 0; i < 3; ++i) mbarInit(&wbar[i], 1);
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  if (tid < kBK / 16) reinterpret_cast<uint4*>(zero)[tid] = make_uint4(0, 0, 0, 0);
  float* cm = reinterpret_cast<float*>(smem + L::kConstAt);
  float* cb = cm + kHaloBN;
  blockConstants(cm, cb, e, n0, kHaloBN, g.m, tid, kHaloThreads);
  __syncthreads();  // the barriers are initialised, the zero row written
  if (tid == 0) {
    // The weights are constants of the engine: loaded before the wait for the kernel before this one.
    mbarExpectTx(wbar, static_cast<uint32_t>(kHaloTaps * L::kTap));
    for (int t = 0; t < kHaloTaps; ++t) tmaLoad2d(sw + t * L::kTap, &tw, t * kBK, n0, wbar);
  }
  pdlStart();  // before the first read of x
  if (tid == 0 && mine > 0) issueHalo(0);
  // This lane's ldmatrix row (wgmma's fragment: warp w of the CTA holds rows 16w..16w+15) and its
  // 16-byte chunk within a 32-deep step.
  const int row_in_tile = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
  const int khalf = lane >> 4;
  const uint32_t halo_s = smemAddr(halo), zero_s = smemAddr(zero);
  mbarWait(wbar, 0);
  int acc[kHaloBN / 2];
  for (int j = 0; j < mine; ++j) {
    const int m0 = walk.tile(j) * kHaloBM;
    // Buffer (j + 1) & 1's last reader, tile j - 1's ldmatrix, is past the barrier that followed it.
    if (tid == 0 && j + 1 < mine) issueHalo(j + 1);
    const int p = m0 + row_in_tile;
    const int ow = p % W, oh = (p / W) % g.h;
    const bool in = p < m_total;
    const uint32_t buf = halo_s + static_cast<uint32_t>((j & 1) * L::kHalo);
    mbarWait(&hbar[j & 1], static_cast<uint32_t>((j >> 1) & 1));
    // The taps a row of the window at a time (3 taps x 2 k-steps, 24 registers), in two register sets:
    // row 2's gathers overwrite row 0's set only after row 0's wgmmas have waited.
    auto gather = [&](uint32_t(&a)[3][2][4], int dh) {
#pragma unroll
      for (int q = 0; q < 3; ++q) {
        const int dw = q - 1;
        const bool ok = in && static_cast<unsigned>(oh + dh) < static_cast<unsigned>(g.h) &&
                        static_cast<unsigned>(ow + dw) < static_cast<unsigned>(W);
        const int r = row_in_tile + W + 1 + dh * W + dw;
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          const int chunk = 2 * k + khalf;
          const uint32_t at = ok ? buf + static_cast<uint32_t>(r * kBK + ((chunk ^ ((r >> 1) & 3)) << 4))
                                 : zero_s + static_cast<uint32_t>(chunk << 4);
          ldmatrixX4(a[q][k], at);
        }
      }
    };
    auto mma = [&](uint32_t(&a)[3][2][4], int dh) {
      wgmmaFence();  // the fragments (and, after the first row, the accumulators) were written by other instructions
#pragma unroll
      for (int q = 0; q < 3; ++q)
#pragma unroll
        for (int k = 0; k < 2; ++k) {
          const int t = (dh + 1) * 3 + q;
          wgmma64Rs(acc, a[q][k], smemDesc(sw + t * L::kTap + k * 32), t + k > 0 ? 1 : 0);
        }
      wgmmaCommit();
    };
    uint32_t a0[3][2][4], a1[3][2][4];
    gather(a0, -1);
    mma(a0, -1);
    gather(a1, 0);
    mma(a1, 0);
    wgmmaWait<1>();  // row -1's wgmmas read a0: done
    fenceFrags(a0);
    gather(a0, 1);
    __syncthreads();  // every warp holds its fragments: halo buffer j & 1 is free; so is the y tile
    mma(a0, 1);
    wgmmaWait<0>();
    fenceRegs(acc);
    fenceFrags(a0);
    fenceFrags(a1);
    pairsToTile<kHaloBN, false>(ty, ty, acc, warp, lane, n0, g.m, cm - n0, cb - n0, 0.f, e.qlo, e.qhi);
    __syncthreads();  // the y tile is whole
    storeTile<kHaloBM, kHaloBN, kHaloThreads>(y, ty, m0, n0, m_total, g.m, tid);
  }
#endif
}

int haloTilesPerSm() {
  static std::atomic<uint64_t> opted{0};
  optIn(haloKernel, HaloLayout::kSmem, opted);
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, haloKernel, kHaloThreads, HaloLayout::kSmem) != cudaSuccess)
    return 0;
  return per_sm;
}

}  // namespace

int haloGrid(const IgemmGeometry& g) { return ChannelBlocks(g, kHaloBM, kHaloBN).grid(haloTilesPerSm()); }

bool qconvHalo(const int8_t* x, const int8_t* w, int8_t* y, const IgemmGeometry& g, const IgemmEpilogue& e, int grid,
               cudaStream_t s) {
  if (!haloFits(g) || !e.y_int8 || e.z || e.ds_x || e.probe || grid <= 0) return false;
  const int m_total = g.n * g.oh * g.ow;
  const ChannelBlocks blocks(g, kHaloBM, kHaloBN);
  const uint64_t wrow = static_cast<uint64_t>(kHaloTaps) * igemmCPad(g.c);  // the packed weights' row
  CUtensorMap tx{}, tw{};
  if (!encodeBoxes(&tx, x, static_cast<uint64_t>(m_total), static_cast<uint64_t>(g.c), static_cast<uint64_t>(g.c),
                   static_cast<uint32_t>(kHaloBM + 2 * g.w + 2)) ||
      !encodeBoxes(&tw, w, static_cast<uint64_t>(igemmKPad(g.m)), wrow, wrow, kHaloBN))
    return false;
  if (haloTilesPerSm() < 1) return false;
  launchKernel(haloKernel, static_cast<unsigned>(blocks.perBlock(grid) * blocks.n_tiles), kHaloThreads,
               HaloLayout::kSmem, s, tx, tw, y, g, e, m_total, blocks.n_tiles, blocks.m_tiles);
  return true;
}

}  // namespace qrt::cuda::launch
