// The device helpers the Hopper kernels of sm90a/ share (qconv_wgmma.cu's tiles, qconv_halo.cu's
// 3x3 kernel): wgmma and its descriptors, mbarriers and TMA loads, the int8 register epilogue
// (foldedPair, pairsToTile, storeTile) and the host's tensor-map encoder. Each including file gets
// its own copies (an anonymous namespace): compiled for sm_90a only (cmake/cuda.cmake).
#pragma once

#include <algorithm>

#include <cuda.h>  // CUtensorMap and its enums (the encoder comes through cudaGetDriverEntryPointByVersion)
#include <cudaTypedefs.h>

#include "backends/cuda/qconv_igemm_device.cuh"

namespace qrt::cuda::launch {

namespace {

using namespace igemm_detail;

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define QRT_WGMMA_ON 1
#endif

// The descriptor of a K-major tile of 64-byte swizzled rows from `p` (a 512-byte boundary, or 32
// bytes past one for a slice's second step): start address / 16 in bits 0-13, the leading byte
// offset (unused by swizzled K-major tiles: 1) in bits 16-29, the stride byte offset (8 rows x 64
// bytes = 512, between 8-row core-matrix groups) / 16 in bits 32-45, base offset 0, and swizzle
// mode 2 (64 bytes) in bits 62-63.
__device__ __forceinline__ uint64_t smemDesc(const void* p) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  return static_cast<uint64_t>((a & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) | (uint64_t{512 >> 4} << 32) |
         (uint64_t{2} << 62);
}

#ifdef QRT_WGMMA_ON
__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most N of the warpgroup's committed wgmma groups are pending.
template <int N>
__device__ __forceinline__ void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// cp.async writes shared memory through the generic proxy; wgmma reads it through the async one.
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Keeps the compiler from moving accumulator reads or writes across a wgmma wait.
template <int R>
__device__ __forceinline__ void fenceRegs(int (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+r"(d[i])::"memory");
}

// D[64 x 64] = A[64 x 32] . B[64 x 32]^T (+ D where acc is 1: wgmma's scale-d), int8 in, int32 D (the
// warpgroup's 32 registers a thread).
__device__ __forceinline__ void wgmma64(int (&d)[32], uint64_t a, uint64_t b, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31])
      : "l"(a), "l"(b), "r"(acc));
}

// D[64 x 128] = A[64 x 32] . B[128 x 32]^T (+ D where acc is 1), int8 in, int32 D (the warpgroup's 64
// registers a thread).
__device__ __forceinline__ void wgmma128(int (&d)[64], uint64_t a, uint64_t b, int acc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63])
      : "l"(a), "l"(b), "r"(acc));
}

// The first slice's first wgmma (scale-d 0: D = A . B^T), with the accumulators as outputs only.
// Why: wgmma64 / wgmma128 take them as inputs ("+r"), and where they hold no value yet (a tile's first
// slice) the compiler filled each from an undefined register before it: ncu's SASS (session 14, H200,
// ResNet-50 INT8 b256, tile 28 on layer1 conv3) showed 62 IMAD.MOV a thread, 5% of the tile's
// instructions, on these issue-bound layers. The kernels call it before their depth loops
// (sliceWgmmasFirst); measured (H200, session 14): 5-18% off the tiles of up to 3 CTAs an SM on
// ResNet-50's 3x3 layers (tile 14 on layer4.0 conv2 78.2 -> 64.3 us, tile 10 97.4 -> 86.7), slower
// on the tiles of 4 and more (wgmmaKernel keeps their single loop).
__device__ __forceinline__ void wgmma64First(int (&d)[32], uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 0, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p;\n}\n"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]), "=r"(d[4]), "=r"(d[5]), "=r"(d[6]), "=r"(d[7]), "=r"(d[8]), "=r"(d[9]), "=r"(d[10]), "=r"(d[11]), "=r"(d[12]), "=r"(d[13]), "=r"(d[14]), "=r"(d[15]), "=r"(d[16]), "=r"(d[17]), "=r"(d[18]), "=r"(d[19]), "=r"(d[20]), "=r"(d[21]), "=r"(d[22]), "=r"(d[23]), "=r"(d[24]), "=r"(d[25]), "=r"(d[26]), "=r"(d[27]), "=r"(d[28]), "=r"(d[29]), "=r"(d[30]), "=r"(d[31])
      : "l"(a), "l"(b));
}

__device__ __forceinline__ void wgmma128First(int (&d)[64], uint64_t a, uint64_t b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, 0, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p;\n}\n"
      : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3]), "=r"(d[4]), "=r"(d[5]), "=r"(d[6]), "=r"(d[7]), "=r"(d[8]), "=r"(d[9]), "=r"(d[10]), "=r"(d[11]), "=r"(d[12]), "=r"(d[13]), "=r"(d[14]), "=r"(d[15]), "=r"(d[16]), "=r"(d[17]), "=r"(d[18]), "=r"(d[19]), "=r"(d[20]), "=r"(d[21]), "=r"(d[22]), "=r"(d[23]), "=r"(d[24]), "=r"(d[25]), "=r"(d[26]), "=r"(d[27]), "=r"(d[28]), "=r"(d[29]), "=r"(d[30]), "=r"(d[31]), "=r"(d[32]), "=r"(d[33]), "=r"(d[34]), "=r"(d[35]), "=r"(d[36]), "=r"(d[37]), "=r"(d[38]), "=r"(d[39]), "=r"(d[40]), "=r"(d[41]), "=r"(d[42]), "=r"(d[43]), "=r"(d[44]), "=r"(d[45]), "=r"(d[46]), "=r"(d[47]), "=r"(d[48]), "=r"(d[49]), "=r"(d[50]), "=r"(d[51]), "=r"(d[52]), "=r"(d[53]), "=r"(d[54]), "=r"(d[55]), "=r"(d[56]), "=r"(d[57]), "=r"(d[58]), "=r"(d[59]), "=r"(d[60]), "=r"(d[61]), "=r"(d[62]), "=r"(d[63])
      : "l"(a), "l"(b));
}

template <int BN>
__device__ __forceinline__ void wgmmaStepFirst(int (&d)[BN / 2], uint64_t a, uint64_t b) {
  if constexpr (BN == 128)
    wgmma128First(d, a, b);
  else
    wgmma64First(d, a, b);
}

template <int BN>
__device__ __forceinline__ void wgmmaStep(int (&d)[BN / 2], uint64_t a, uint64_t b, int acc) {
  if constexpr (BN == 128)
    wgmma128(d, a, b, acc);
  else
    wgmma64(d, a, b, acc);
}
// Queues slice `stage`'s two 32-deep wgmmas for warpgroup wg (its 64 rows of the A stage, all BN
// columns of the B stage) and commits them as one group. first: the tile's first slice, whose first
// wgmma writes the accumulators (scale-d 0) instead of adding to them: no zeroing of BN / 2
// registers a thread per tile (on the one-slice 1x1 layers, 64 instructions of a thread's ~1300).
template <int BM, int BN>
__device__ __forceinline__ void sliceWgmmas(int (&acc)[BN / 2], const uint8_t* sa, const uint8_t* sb, int stage,
                                            int wg, bool first) {
  const uint8_t* a_s = sa + stage * BM * kBK + wg * 64 * kBK;
  const uint8_t* b_s = sb + stage * BN * kBK;
  wgmmaFence();
  wgmmaStep<BN>(acc, smemDesc(a_s), smemDesc(b_s), first ? 0 : 1);
  wgmmaStep<BN>(acc, smemDesc(a_s + 32), smemDesc(b_s + 32), 1);
  wgmmaCommit();
}
// sliceWgmmas of a tile's first slice (first = true) through wgmmaStepFirst: the accumulators written,
// not read. A caller runs it before its depth loop and the loop from the second slice, so that no
// path reads the accumulators before this writes them.
template <int BM, int BN>
__device__ __forceinline__ void sliceWgmmasFirst(int (&acc)[BN / 2], const uint8_t* sa, const uint8_t* sb, int stage,
                                                 int wg) {
  const uint8_t* a_s = sa + stage * BM * kBK + wg * 64 * kBK;
  const uint8_t* b_s = sb + stage * BN * kBK;
  wgmmaFence();
  wgmmaStepFirst<BN>(acc, smemDesc(a_s), smemDesc(b_s));
  wgmmaStep<BN>(acc, smemDesc(a_s + 32), smemDesc(b_s + 32), 1);
  wgmmaCommit();
}
// The descriptor of a K-major tile of 128-byte rows in the 128-byte swizzle (TMA's
// CU_TENSOR_MAP_SWIZZLE_128B: 16-byte chunk c of row r at r * 128 + ((c ^ (r % 8)) << 4)) from p (a
// 1024-byte boundary, or 32, 64 or 96 bytes past one for a slice's later 32-deep steps): the
// stride byte offset 8 rows x 128 bytes = 1024, swizzle mode 1 (128 bytes) in bits 62-63.
__device__ __forceinline__ uint64_t smemDesc128(const void* p) {
  const uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  return static_cast<uint64_t>((a & 0x3FFFFu) >> 4) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}
// sliceWgmmas for a slice 128 bytes deep (four 32-deep wgmmas; smemDesc128's layout, a stage BM x
// 128 bytes of A and BN x 128 of B); kFirst: the tile's first slice (its first wgmma writes acc).
template <int BM, int BN, bool kFirst>
__device__ __forceinline__ void wideSliceWgmmas(int (&acc)[BN / 2], const uint8_t* sa, const uint8_t* sb, int stage,
                                                int wg) {
  const uint8_t* a_s = sa + stage * BM * 128 + wg * 64 * 128;
  const uint8_t* b_s = sb + stage * BN * 128;
  wgmmaFence();
  if constexpr (kFirst)
    wgmmaStepFirst<BN>(acc, smemDesc128(a_s), smemDesc128(b_s));
  else
    wgmmaStep<BN>(acc, smemDesc128(a_s), smemDesc128(b_s), 1);
#pragma unroll
  for (int k = 1; k < 4; ++k) wgmmaStep<BN>(acc, smemDesc128(a_s + 32 * k), smemDesc128(b_s + 32 * k), 1);
  wgmmaCommit();
}
// The accumulators zeroed where the MMAs are skipped (QRT_CUDA_IGEMM_PROBE 2: measurement only).
template <int R>
__device__ __forceinline__ void zeroIfProbing(int (&acc)[R], int probe) {
  if (probe & 2) {
#pragma unroll
    for (int i = 0; i < R; ++i) acc[i] = 0;
  }
}
#endif

// Writes the warp's accumulators (wgmma's layout, see the file comment) into the int32 tile.
template <int BN>
__device__ __forceinline__ void stageWgmmaAcc(int* sc, int ldc, int row0, const int (&d)[BN / 2], int lane) {
  const int row = row0 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    const int col = j * 8 + (lane & 3) * 2;
    *reinterpret_cast<int2*>(sc + row * ldc + col) = make_int2(d[4 * j], d[4 * j + 1]);
    *reinterpret_cast<int2*>(sc + (row + 8) * ldc + col) = make_int2(d[4 * j + 2], d[4 * j + 3]);
  }
}

// The same into the wide epilogue's int32 tile (wideAt: 16-byte chunks swizzled within a row).
template <int BN, int LDC>
__device__ __forceinline__ void stageWgmmaAccWide(int* sc, int row0, const int (&d)[BN / 2], int lane) {
  const int row = row0 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    const int at = wideAt<LDC>(row, j * 8 + (lane & 3) * 2);
    *reinterpret_cast<int2*>(sc + at) = make_int2(d[4 * j], d[4 * j + 1]);
    *reinterpret_cast<int2*>(sc + at + 8 * LDC) = make_int2(d[4 * j + 2], d[4 * j + 3]);
  }
}


// The int8 epilogue of two accumulators a0, a1 (channels c, c + 1): the folded constants m, b
// (IgemmEpilogue: divided by y's scale), (kZ) the residual's two bytes zp times z_scale, one clamp
// to [qlo, qhi], round half to even by the magic add; the two bytes in the low half. foldedWord's
// operations, two lanes of it.
template <bool kZ>
__device__ __forceinline__ unsigned short foldedPair(int a0, int a1, float2 m, float2 b, unsigned zp, float z_scale,
                                                     float qlo, float qhi) {
  float v0 = fmaf(static_cast<float>(a0), m.x, b.x);
  float v1 = fmaf(static_cast<float>(a1), m.y, b.y);
  if (kZ) {
    v0 = fmaf(static_cast<float>(signedByte<0>(zp)), z_scale, v0);
    v1 = fmaf(static_cast<float>(signedByte<1>(zp)), z_scale, v1);
  }
  v0 = fminf(fmaxf(v0, qlo), qhi);
  v1 = fminf(fmaxf(v1, qlo), qhi);
  const unsigned r0 = __float_as_uint(__fadd_rn(v0, 12582912.f)), r1 = __float_as_uint(__fadd_rn(v1, 12582912.f));
  return static_cast<unsigned short>(__byte_perm(r0, r1, 0x0040u));
}

// A warp's accumulators (wgmma's fragment: d[4j + 2h + i] is row warp * 16 + lane / 4 + 8h, column
// 8j + 2 (lane % 4) + i of the tile) through foldedPair into the int8 tile dst (tileChunk's
// swizzled layout), the residual's bytes (kZ) from the tile sz; channels past `channels` (a
// multiple of 16: both of a pair are in or out) are left unwritten. kFull: the caller knows the block
// whole (n0 + BN <= channels), and the per-column test goes.
template <int BN, bool kZ, bool kFull = false>
__device__ __forceinline__ void pairsToTile(uint8_t* dst, const uint8_t* sz, const int (&d)[BN / 2], int warp,
                                            int lane, int n0, int channels, const float* mult, const float* bias,
                                            float z_scale, float qlo, float qhi) {
  const int row0 = warp * 16 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    const int col = j * 8 + (lane & 3) * 2;
    if (!kFull && n0 + col >= channels) continue;
    const float2 m = *reinterpret_cast<const float2*>(mult + n0 + col);
    const float2 b = *reinterpret_cast<const float2*>(bias + n0 + col);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int off = tileChunk<BN, true>(row0 + 8 * h, col >> 4) + (col & 15);
      const unsigned zp = kZ ? *reinterpret_cast<const unsigned short*>(sz + off) : 0u;
      *reinterpret_cast<unsigned short*>(dst + off) =
          foldedPair<kZ>(d[4 * j + 2 * h], d[4 * j + 2 * h + 1], m, b, zp, z_scale, qlo, qhi);
    }
  }
}

// The int8 y tile (tileChunk's swizzled layout) to y in 16-byte stores, a row's chunks by
// consecutive threads; rows past the last pixel and channels past the last are not written.
template <int BM, int BN, int kThreads>
__device__ __forceinline__ void storeTile(int8_t* y, const uint8_t* ty, int m0, int n0, int m_total, int channels,
                                          int tid) {
  constexpr int kRowChunks = BN / 16;
  for (int i = tid; i < BM * kRowChunks; i += kThreads) {
    const int row = i / kRowChunks, c16 = i - row * kRowChunks;
    const int m = m0 + row, co = n0 + c16 * 16;
    if (m < m_total && co < channels)
      *reinterpret_cast<int4*>(y + static_cast<size_t>(m) * channels + co) =
          *reinterpret_cast<const int4*>(ty + tileChunk<BN, true>(row, c16));
  }
}

// kDs: the downsample first (IgemmEpilogue::ds_x). kWide: int8 y through the wide epilogue

__device__ __forceinline__ uint32_t smemAddr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

#ifdef QRT_WGMMA_ON
__device__ __forceinline__ void mbarInit(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarExpectTx(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smemAddr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarWait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nwait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(smemAddr(bar)),
      "r"(parity)
      : "memory");
}
// A 2-D box of the tensor map (its address in the kernel's parameter space) at (c0, r0) into dst.
__device__ __forceinline__ void tmaLoad2d(void* dst, const CUtensorMap* map, int c0, int r0, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          smemAddr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(r0), "r"(smemAddr(bar))
      : "memory");
}
// A 2-D box of the tensor map at (c0, r0) from src (shared memory, the map's swizzled layout), by TMA:
// the caller makes its generic writes of src visible to the async proxy first (fenceProxyAsync, then a
// barrier), and commits the store into a bulk group (bulkCommit). Rows and columns past the map's
// extent are not written.
__device__ __forceinline__ void tmaStore2d(const CUtensorMap* map, int c0, int r0, const void* src) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(c0), "r"(r0), "r"(smemAddr(src))
               : "memory");
}
__device__ __forceinline__ void bulkCommit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's bulk groups still read their shared memory (the source may
// then be written again).
template <int N>
__device__ __forceinline__ void bulkWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
// Waits until at most N of this thread's bulk groups are incomplete (their writes done).
template <int N>
__device__ __forceinline__ void bulkWait() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}
// TMA's im2col mode (tiles 34-35): BM pixels of one tap's 64 channels from the 4-D map of x (C, W, H, N)
// into dst, in the tiled box's layout (rows of 64 bytes, 64-byte swizzle). (c0, w0, h0, n0): the first
// channel and where the tile's first output pixel's filter window starts in x (ow * sw - pw, oh * sh - ph,
// its image); (ow_tap, oh_tap): the tap's offset in that window (s * dw, r * dh). The hardware walks the
// tile's pixels as the map's box says (lower corner -padding, upper corner padding - (filter - 1) *
// dilation, traversal strides the convolution's): along a row, then to the next row, then the next
// image; taps in the padding and pixels past the last image read as zeros.
__device__ __forceinline__ void tmaIm2col(void* dst, const CUtensorMap* map, int c0, int w0, int h0, int n0,
                                          int ow_tap, int oh_tap, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.im2col.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, "
      "%5}], [%6], {%7, %8};\n" ::"r"(smemAddr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(w0), "r"(h0), "r"(n0), "r"(smemAddr(bar)),
      "h"(static_cast<unsigned short>(ow_tap)), "h"(static_cast<unsigned short>(oh_tap))
      : "memory");
}
// Slice `slice` (64 bytes of depth) of the A rows from a0 (x, a_rows of them) and the B rows from b0
// (w, b_rows) into the stage at sa / sb, both completing on `bar`, which this thread arms with
// their bytes: the TMA kernels' one slice load.
__device__ __forceinline__ void tmaSlice(uint8_t* sa, uint8_t* sb, const CUtensorMap* tx, const CUtensorMap* tw,
                                         int slice, int a0, int b0, int a_rows, int b_rows, uint64_t* bar) {
  mbarExpectTx(bar, static_cast<uint32_t>((a_rows + b_rows) * kBK));
  tmaLoad2d(sa, tx, slice * kBK, a0, bar);
  tmaLoad2d(sb, tw, slice * kBK, b0, bar);
}
#endif

// The driver's entry point `name` (CUDA 12.0's ABI) as a Fn, or null where the driver has none: the
// tensor-map encoders come so, without linking libcuda.
template <class Fn>
Fn driverEntry(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult q{};
  if (cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &q) != cudaSuccess ||
      q != cudaDriverEntryPointSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return reinterpret_cast<Fn>(fn);
}

// The tensor map of a row-major [rows, cols] int8 matrix (row pitch `pitch` bytes) read in boxes of
// box_rows x box_cols bytes (64 with the 64-byte swizzle: the pipeline's slices; 128 with the 128-byte
// swizzle: tileChunk<128, true>'s residual tiles); false where the driver has no encoder or refuses.
bool encodeBoxes(CUtensorMap* map, const void* base, uint64_t rows, uint64_t cols, uint64_t pitch, uint32_t box_rows,
                 uint32_t box_cols = kBK, CUtensorMapSwizzle swizzle = CU_TENSOR_MAP_SWIZZLE_64B) {
  static const auto encode = driverEntry<PFN_cuTensorMapEncodeTiled_v12000>("cuTensorMapEncodeTiled");
  if (!encode) return false;
  const cuuint64_t dims[2] = {cols, rows};
  const cuuint64_t strides[1] = {pitch};
  const cuuint32_t box[2] = {box_cols, box_rows};
  const cuuint32_t elem[2] = {1, 1};
  return encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), dims, strides, box, elem,
                CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}


// The im2col tensor map of x (n, h, w, c: channels-last int8) for geometry g: `pixels` pixels of
// `depth` channels a load (64 with the 64-byte swizzle, 128 with the 128-byte one), the box and
// traversal of tmaIm2col; false where the driver has no encoder or refuses (window corners out of its
// range, ...). Tiles 34-35 and the resident tiles' strided layers.
bool encodeIm2col(CUtensorMap* map, const void* x, const IgemmGeometry& g, uint32_t pixels, uint32_t depth = kBK,
                  CUtensorMapSwizzle swizzle = CU_TENSOR_MAP_SWIZZLE_64B) {
  static const auto encode = driverEntry<PFN_cuTensorMapEncodeIm2col_v12000>("cuTensorMapEncodeIm2col");
  if (!encode) return false;
  const uint64_t c = static_cast<uint64_t>(g.c), w = static_cast<uint64_t>(g.w), h = static_cast<uint64_t>(g.h);
  const cuuint64_t dims[4] = {c, w, h, static_cast<uint64_t>(g.n)};
  const cuuint64_t strides[3] = {c, w * c, h * w * c};  // bytes, dims 1-3
  const int lower[2] = {-g.pw, -g.ph};
  const int upper[2] = {g.pw - (g.kw - 1) * g.dw, g.ph - (g.kh - 1) * g.dh};
  const cuuint32_t elem[4] = {1, static_cast<cuuint32_t>(g.sw), static_cast<cuuint32_t>(g.sh), 1};
  return encode(map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, const_cast<void*>(x), dims, strides, lower, upper, depth, pixels,
                elem, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

// The persistent kernels whose CTAs each own one block of bn output channels (qconv_halo.cu,
// qconv_resident.cu): CTA c takes block c % n_tiles and walks the pixel tiles first, first + step, ...
// (first = c / n_tiles; step: the CTAs a block, gridDim.x / n_tiles).
struct ChannelBlocks {
  int n_tiles, m_tiles;  // channel blocks of bn; pixel tiles of bm
  ChannelBlocks(const IgemmGeometry& g, int bm, int bn)
      : n_tiles((g.m + bn - 1) / bn), m_tiles((g.n * g.oh * g.ow + bm - 1) / bm) {}
  // The CTAs a block gets of `ctas` in all: at least one, at most one a pixel tile.
  int perBlock(int ctas) const { return std::max(1, std::min(m_tiles, ctas / n_tiles)); }
  // The one-wave grid: per_sm CTAs on every SM, a whole number a block; 0 where the device queries fail.
  int grid(int per_sm) const {
    int dev = 0, sms = 0;
    if (per_sm < 1 || cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return 0;
    return perBlock(per_sm * sms) * n_tiles;
  }
};

// This CTA's walk (ChannelBlocks): its block's first output channel n0, and its pixel tiles j = 0 ..
// mine - 1 at tile(j).
struct BlockWalk {
  int n0, first, step, mine;
  __device__ BlockWalk(int n_tiles, int m_tiles, int bn)
      : n0(static_cast<int>(blockIdx.x) % n_tiles * bn),
        first(static_cast<int>(blockIdx.x) / n_tiles),
        step(static_cast<int>(gridDim.x) / n_tiles),
        mine(first < m_tiles ? (m_tiles - first + step - 1) / step : 0) {}
  __device__ int tile(int j) const { return first + j * step; }
};

// The block's epilogue constants (mult, bias of channels n0 .. n0 + bn - 1; zeros past `channels`) into
// shared memory cm, cb: read by every tile, they stay out of the registers, where the compiler kept
// them across the tile loop and the kernels spilled.
__device__ __forceinline__ void blockConstants(float* cm, float* cb, const IgemmEpilogue& e, int n0, int bn,
                                               int channels, int tid, int threads) {
  for (int i = tid; i < bn; i += threads) {
    cm[i] = n0 + i < channels ? e.mult[n0 + i] : 0.f;
    cb[i] = n0 + i < channels ? e.bias[n0 + i] : 0.f;
  }
}


}  // namespace

}  // namespace qrt::cuda::launch
