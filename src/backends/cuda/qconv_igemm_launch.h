// qrt's INT8 implicit-GEMM convolution (qconv_igemm.cu), QConv's kernel for dense 2-D layers
// (qconv_igemm.cpp). cuDNN 9.19's int8 convolutions on Hopper are slower than its fp16 ones on
// the memory-bound layers (ResNet-50's residual 1x1 layers at batch 256), so an INT8 engine on
// them stayed below FP16; TensorRT has its own int8 kernels, and so does qrt now.
//
// The GEMM: rows are output pixels (N * OH * OW), columns output channels (Conv2dShape's m), depth
// the taps times input channels (kh * kw * C). Channels-last int8 x and y; the weights re-laid out
// once as [M_pad][kh * kw][C_pad] (C_pad = C rounded up to 64, M_pad = the output channels
// rounded up to 128, zeros in the padding), so a 64-deep slice of one tap is one 64-byte row of x
// per output pixel and one of w per output channel. Each CTA computes a BM x BN tile with
// mma.sync m16n8k32 (s8 x s8 -> s32), loading slices with cp.async (zero fill for padding pixels
// and channels past C) into a 4-stage pipeline (2 stages in the tiles for shallow layers), read
// by ldmatrix from XOR-swizzled rows (no bank conflicts). The epilogue stages the int32 tile in
// shared memory and applies QConv's epilogue (IgemmEpilogue) to four channels a thread, reading
// the int8 residual z (loaded into shared memory with the first slice) and writing y as one
// 4-byte word. A streaming tile (a CTA keeping its weights resident and walking pixel tiles with
// the next one's loads in flight; 4 warps, up to 4 CTAs an SM) ran 1.3-2.3x slower than the tiles
// below on every residual layer of ResNet-50 (H100, ncu: 23% occupancy, latency-bound) and was
// removed. The persistent tiles (7-9) keep that idea with the
// tiled kernel's pipeline: a wave of 4- or 8-warp CTAs each streams its tiles' slices through one
// cp.async pipeline, so the next tiles load during a tile's last MMAs and its epilogue.
//
// Measured (H100, ResNet-50 INT8 at batch 256, bench/results/gpu-h100-80gb-hbm3-2026-11-27-night.md):
// the tiled kernels beat cuDNN on the residual 1x1 layers (layer1 conv3 0.49 -> 0.29 ms) but run
// them at ~1.6 TB/s, and reach ~0.5 POPS on compute-bound 3x3 layers where cuDNN's int8 plans reach
// ~1.3. The wgmma tiles (10-23, sm90a/qconv_wgmma.cu) run the same pipeline and epilogue with
// Hopper's warpgroup MMA. The tuner keeps whichever is faster.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "backends/cuda/conv_launch.h"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

// x [n, h, w, c] and y [n, oh, ow, m], channels-last int8 (Conv2dShape's fields).
using IgemmGeometry = Conv2dShape;

// QConv's epilogue, per output channel c (as QDepthwiseEpilogue, plus the residual z):
//   fp32 out: y = act(float(acc) * mult[c] + bias[c] (+ z_scale * z)), the reference's roundings
//             (fp16 out: that value rounded to fp16);
//   int8 out: y = saturate(round_half_even(act'(acc * mult[c] + bias[c] (+ z * z_scale)))) with
//             every constant (mult, bias, z_scale, clip bounds) already divided by y_scale, and
//             FMAs: within one quantization step of the reference (a value may cross a rounding
//             boundary), as cuDNN's fused graph. The exact order (a division per value) made
//             the epilogue, not memory, the bound of ResNet-50's layer1 conv3 on an H100.
struct IgemmEpilogue {
  const float* mult = nullptr;  // [k], device: x_scale * w_scale[c] (int8 out: / y_scale)
  const float* bias = nullptr;  // [k], device (zeros when the node has none; int8 out: / y_scale)
  const int8_t* z = nullptr;    // int8 residual of y's shape (channels-last), or null
  float z_scale = 0.f;          // int8 out: / y_scale
  QAct act = QAct::kNone;
  float lo = 0.f, hi = 0.f;     // clip bounds (int8 out: / y_scale)
  float qlo = -128.f, qhi = 127.f;  // int8 out: the activation's bounds (/ y_scale) within [-128, 127]
  bool y_int8 = true;
  // QRT_CUDA_IGEMM_PROBE (measurement only: wrong results; the tiled kernels with the staged
  // epilogue, 0-6 and 10-17): 1 stores the accumulators' low bytes instead of the int8 epilogue,
  // 2 skips the MMAs, 4 skips the loads of x and w. Where a layer's time goes, without ncu.
  int probe = 0;
  bool y_half = false;  // float output stored as fp16
  // x's im2col loads through L1 (cp.async.ca) on layers of more than one tap (3x3...), where the
  // taps read each pixel again a few slices later; else L2 only (.cg). QRT_CUDA_IGEMM_X_L1=on (off by
  // default: not yet measured; since session 11 layer1's 3x3 runs the TMA im2col tile 34, which
  // does not use these loaders).
  bool x_l1 = false;
  // A block's downsample convolution computed in the kernel (passes: fuseDownsampleResidual): z is
  // not read but made, per tile, as the downsample QConv makes it: z = saturate(round_half_even(
  // acc2 * ds_mult[c] + ds_bias[c])) (constants divided by z's scale, no activation) of ds_x
  // (channels-last int8, geometry ds) and ds_w (igemmWeights of the [M, C2, 1, 1] weights); then
  // y's epilogue adds it as it adds a read z. int8 y; the tiled kernels (not the persistent ones).
  const int8_t* ds_x = nullptr;
  const int8_t* ds_w = nullptr;
  const float* ds_mult = nullptr;
  const float* ds_bias = nullptr;
  Conv2dShape ds;
};

// The tile shapes the kernel is instantiated for (the tuner times each; "ig<index>" tactics).
struct IgemmTile {
  int bm, bn;
  bool persistent;  // a wave of CTAs walking the tiles (igemmPersistentGrid), the next ones loading
  bool wgmma = false;  // Hopper's warpgroup MMA (sm90a/qconv_wgmma.cu): compute capability 9.0 only
  bool pipelined = false;  // wgmma left running across the next slice's barrier (WgmmaTile::kPipe)
  // Timed only with QRT_CUDA_IGEMM_WGMMA=all (or =only): slower than the default tiles wherever they
  // ran (18-19 and 21-23: ResNet-50 INT8 on an H100, session 8; 26-27, 30-33 and 36-37: on an H200,
  // sessions 10 and 11, bench/results/raw/gpu-h200-2026-11-28-session11-tiles.md; 38-42 and 46-47: on an
  // H200, sessions 14 and 15).
  bool opt_in = false;
  bool reg_epi = false;  // int8 y: the epilogue from registers through an int8 tile (WgmmaTile::kRegEpi)
  bool tma = false;  // x and w slices by the Tensor Memory Accelerator (1x1 stride-1 unpadded layers only)
  bool im2col = false;  // x by TMA's im2col mode: the layers tma tiles do not take (igemmUnit false)
  bool halo = false;  // 3x3 / stride 1 / pad 1 layers of at most 64 channels (haloFits; sm90a/qconv_halo.cu)
  bool resident = false;  // 1x1 layers of at most 256 channels, int8 y (residentFits; sm90a/qconv_resident.cu)
};
inline constexpr IgemmTile kIgemmTiles[] = {
    {128, 128, false}, {128, 64, false}, {64, 128, false}, {64, 64, false},
    {128, 64, false},  {64, 128, false}, {64, 64, false},  // 4-6: two stages, more CTAs an SM
    {128, 64, true},   {64, 64, true},   {64, 128, true},  // 7-9: persistent
    // 10-13: wgmma
    {128, 128, false, true}, {128, 64, false, true}, {64, 128, false, true}, {64, 64, false, true},
    // 14-15: wgmma, pipelined; 16-17: wgmma, two stages, 4 CTAs an SM (shallow memory-bound layers).
    // Session 8 (H100, ResNet-50 INT8 b256): the fastest own kernel on 16 of 24 layer shapes (14), on 5 (15-17).
    {128, 128, false, true, true}, {128, 64, false, true, true},
    {128, 64, false, true, false}, {64, 128, false, true, false},
    // 18-20: wgmma with the register epilogue (int8 y; float y runs the staged form), the last pipelined
    {128, 128, false, true, false, true, true}, {128, 64, false, true, false, true, true},
    {128, 128, false, true, true, false, true},
    // 21-23: wgmma, persistent (a wave of CTAs streaming their tiles' slices; int8 y, register epilogue)
    {128, 128, true, true, false, true, true}, {128, 64, true, true, false, true, true},
    {64, 128, true, true, false, true, true},
    // 24-25: 14-15 with TMA loads (1x1 stride-1 layers). Session 9 (H100, ResNet-50 INT8 b256): faster than
    // every other own tile on 9 of 14 such layer shapes (layer2.0 conv1 144.6 -> 128.0 us, layer3 conv3 84.7 -> 80.7).
    {128, 128, false, true, true, false, false, true}, {128, 64, false, true, true, false, false, true},
    // 26-27: warp-specialized ping-pong (a TMA producer warpgroup, two consumers of 64 x 128 / 64 x 64 tiles
    // taking turns: one's epilogue runs under the other's MMAs; int8 y, 1x1 stride-1 layers; opt-in: correct
    // but slower than the best tile on 13 of ResNet-50's 14 such layers (1.15-2.6x; equal on one), H200, session 10)
    {64, 128, true, true, true, true, true, true}, {64, 64, true, true, true, true, true, true},
    // 28-29: 17's two stages with more CTAs an SM (5 of 64 x 128, 8 of 64 x 64): more tiles' loads and
    // residual tiles in flight on the memory-bound residual 1x1 layers. Session 10 (H200, ResNet-50 INT8
    // b256): the fastest tile on 5 of the 14 1x1 stride-1 shapes (layer1.0 conv3 193.2 -> 180.2 us).
    {64, 128, false, true}, {64, 64, false, true},
    // 30-31: 28-29 with the register epilogue (int8 y: no int32 staging, 16-byte row stores of the int8 tile;
    // 34 KB and 21 KB of shared memory). Session 11 (H200): correct, slower than 28-29 on every layer
    // (layer1 conv3 239.0 against 180.1 us); opt-in.
    {64, 128, false, true, false, true, true}, {64, 64, false, true, false, true, true},
    // 32-33: pipelined with three stages and 4 CTAs an SM (the deeper layers' 3x3 convolutions: 9+ slices,
    // where the two-stage 16-17 won). Session 11 (H200): correct; 32 tied 16 on layer1 conv2 (131.8 us),
    // slower elsewhere; opt-in (34 now takes layer1 conv2).
    {128, 64, false, true, true, true}, {64, 128, false, true, true, true},
    // 34-35: the pipelined TMA kernel (24-25) with x by TMA's im2col mode, four stages: 3x3, strided and
    // padded layers, whose cp.async loaders spend most of the tiles' instructions (ncu, H200, session 11:
    // layer1's 3x3 on tile 16 issue-bound at 76%). Session 11 (H200, ResNet-50 INT8 b256): exact and
    // within a step on their first run; the fastest own tile on every 3x3 and strided layer shape timed
    // (layer1 conv2 137.7 (ig16) -> 127.9 us, layer3.1 conv2 80.4 (ig14) -> 66.4), cuDNN still faster on
    // layer2-3's.
    {128, 64, false, true, true, false, false, false, true}, {128, 128, false, true, true, false, false, false, true},
    // 36-37: 28-29 with the wide int8 epilogue (epilogueWide: sixteen channels a thread, the clamp a
    // saturating FMA); float y runs their staged form. Session 11 (H200): exact and within a step, but
    // 3-10% slower than 28-29 on every 1x1 layer (layer1 conv3 197.6 against 181.3 us), though they issue
    // a quarter fewer epilogue instructions; opt-in.
    {64, 128, false, true, false, true}, {64, 64, false, true, false, true},
    // 38-40: the TMA tile (24-25) with three stages and more, smaller CTAs an SM: 64 x 128 (4 CTAs),
    // 128 x 64 (4), 64 x 64 (6). Why: ncu (session 14, H200, ResNet-50 INT8 b256) found tile 24 on
    // layer3's residual 1x1 layers latency-bound: 28% of DRAM, about half the issue slots, 2 CTAs an
    // SM (90 registers, 99 KB of shared memory), a fifth of the stall samples on the wait for a slice's
    // TMA; more CTAs an SM were to keep more tiles' loads in flight through the others' epilogues.
    // Measured (same session): correct, and the fastest tile on no layer (layer3 conv3: 38 76.8 us
    // against 24's 75.7; layer1.1 conv1: 39 83.1 against 25's 84.2): opt-in.
    {64, 128, false, true, true, true, false, true}, {128, 64, false, true, true, true, false, true},
    {64, 64, false, true, true, true, false, true},
    // 41-42: streaming TMA tiles (sm90a/qconv_wgmma.cu, WgmmaStream): a wave of CTAs each walking its
    // tiles as one stream of TMA slices, the next tile's slices and residual loading during this one's
    // epilogue (its int32 tile apart from the pipeline). 128 x 64 and 64 x 128. Written in session 14
    // after the device time, not yet run: opt-in until their tests pass (a hang in the tuner would end
    // a build).
    {128, 64, true, true, true, true, false, true}, {64, 128, true, true, true, true, false, true},
    // 43: the halo tile (sm90a/qconv_halo.cu): 3x3 / stride 1 / pad 1 layers of at most 64 input channels
    // (ResNet-50's layer1 conv2), persistent CTAs of 128 x 64 keeping their weights resident and reading x
    // once a tile as a halo of rows (ldmatrix gathers the taps; wgmma with A from registers); int8 y, no
    // residual. Session 15 (H200, ResNet-50 INT8 b256): layer1 conv2 124.7 (tile 34) -> 76.1 us.
    {128, 64, true, true, false, false, true, false, false, true},
    // 44-45: resident weights (sm90a/qconv_resident.cu): 1x1 layers of at most 256 input channels,
    // persistent CTAs owning 128 output channels, their weights loaded once, x and the residual by TMA
    // into two buffers (the next tile's loading under this one), the register epilogue in place; BM 128
    // and 64; int8 y. Session 15 (H200, ResNet-50 INT8 b256): the fastest tile on layer2's residual conv3
    // (115.6 -> 99.7 us), layer1's (180.0 -> 174.6) and its downsample (137.6 -> 132.9); not layer3's
    // (79.1 against tile 24's 75.5).
    {128, 128, true, true, false, false, true, true, false, false, true},
    {64, 128, true, true, false, false, true, true, false, false, true},
    // 46-47: 44-45 with three buffers (two tiles' x and residual loading ahead). Session 15 (H200): correct,
    // the fastest on no layer (layer2.0 conv3 140.8 / 109.7 against 44's 99.9 us). Session 16 (H200, TMA
    // stores): 47 the fastest on layer3's residual conv3 (74.3 against 45's 75.3 us, tile 24's 75.3):
    // timed by default.
    {128, 128, true, true, false, false, true, true, false, false, true},
    {64, 128, true, true, false, false, true, true, false, false, true}};
inline constexpr int kIgemmTileCount = 48;
// The compute capability (10 * major + minor) the wgmma tiles run on.
constexpr int kIgemmWgmmaSm = 90;
// The tile of an implicit-GEMM tactic "ig<tile>" (what follows "signature|" in a stored tactic),
// or -1 for any other tactic.
inline int igemmTileOf(std::string_view tactic) {
  if (tactic.size() < 3 || tactic.size() > 4 || tactic.substr(0, 2) != "ig") return -1;
  int t = 0;
  for (char ch : tactic.substr(2)) {
    if (ch < '0' || ch > '9') return -1;
    t = t * 10 + (ch - '0');
  }
  return t < kIgemmTileCount ? t : -1;
}
constexpr int kIgemmDepth = 64;  // the depth slice (bytes of one tap's channels per row)
constexpr int kIgemmKPad = 128;  // output channels padded to the largest BN

// Whether the kernel computes this geometry: C and K multiples of 16 (16-byte loads, 4-byte
// stores), every x and y index in int32.
bool igemmFits(const IgemmGeometry& g);
// A 1x1 stride-1 unpadded layer: pixel m of y reads row m of x (the tma tiles' layers).
inline bool igemmUnit(const IgemmGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.oh == g.h && g.ow == g.w;
}

// The halo tile's layers (43): 3x3, stride 1, pad 1, dilation 1, at most 64 input channels, and
// rows short enough that a tile's halo (128 + 2 w + 2 pixels) is one TMA box (at most 256 rows).
constexpr int kHaloMaxRows = 256;
inline bool haloFits(const IgemmGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph == 1 && g.pw == 1 && g.dh == 1 && g.dw == 1 &&
         g.c <= 64 && g.oh == g.h && g.ow == g.w && 128 + 2 * g.w + 2 <= kHaloMaxRows;
}

// The resident-weight tiles' layers (44-47): 1x1 unpadded, at most 256 input channels (four 64-deep
// slices: 32 KB of a block's weights); x by TMA's im2col mode where the layer is strided (ResNet-50's
// layer2.0 downsample: tested strided, so padded 1x1 layers, which the im2col map would take too,
// stay with the other tiles until a test covers them).
constexpr int kResidentMaxSlices = 4;
inline bool residentFits(const IgemmGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.ph == 0 && g.pw == 0 && g.c <= kResidentMaxSlices * 64;
}

inline int64_t igemmCPad(int64_t c) { return (c + kIgemmDepth - 1) / kIgemmDepth * kIgemmDepth; }
inline int64_t igemmKPad(int64_t k) { return (k + kIgemmKPad - 1) / kIgemmKPad * kIgemmKPad; }

// [M, C, kh, kw] int8 weights (the node's) -> [M_pad][kh * kw][C_pad], zeros in the padding.
inline std::vector<int8_t> igemmWeights(const int8_t* w, int64_t k, int64_t c, int64_t r, int64_t s) {
  const int64_t cp = igemmCPad(c), kp = igemmKPad(k), taps = r * s;
  std::vector<int8_t> out(static_cast<size_t>(kp * taps * cp), 0);
  for (int64_t o = 0; o < k; ++o)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t t = 0; t < taps; ++t) out[static_cast<size_t>((o * taps + t) * cp + i)] = w[(o * c + i) * taps + t];
  return out;
}

// The grid of a persistent tile (kIgemmTiles[tile].persistent) for this geometry, with a residual
// or not: one wave (occupancy x SMs), at most one CTA a tile; 0 where it does not apply. Host
// queries and the shared-memory opt-in: call at reshape, outside stream capture.
int igemmPersistentGrid(const IgemmGeometry& g, bool z, int tile);

// The wgmma tiles (10-25), called by qconvIgemm; compiled for sm_90a only. grid: the persistent
// ones' (wgmmaPersistentGrid).
void qconvWgmma(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int grid, cudaStream_t s);
// igemmPersistentGrid of the persistent wgmma tiles (21-23); 0 for any other.
int wgmmaPersistentGrid(const IgemmGeometry& g, int tile);
// The halo tile (43; sm90a/qconv_halo.cu): its one-wave grid (a multiple of the 64-channel blocks; 0 where
// the device queries fail), and the launch with that grid; false (nothing launched) where the layer
// or the epilogue is not its (haloFits, int8 y, no residual, no fused downsample) or the tensor maps
// are refused.
int haloGrid(const IgemmGeometry& g);
bool qconvHalo(const int8_t* x, const int8_t* w, int8_t* y, const IgemmGeometry& g, const IgemmEpilogue& e, int grid,
               cudaStream_t s);
// The resident-weight tiles (44: BM 128, 45: BM 64, two buffers; 46-47: three; sm90a/qconv_resident.cu),
// as haloGrid and qconvHalo: false where the layer (residentFits) or the epilogue (int8 y, no fused
// downsample) is not theirs.
template <int BM, int kBufs>
int residentGrid(const IgemmGeometry& g);
template <int BM, int kBufs>
bool qconvResident(const int8_t* x, const int8_t* w, int8_t* y, const IgemmGeometry& g, const IgemmEpilogue& e,
                   int grid, cudaStream_t s);

// y = QConv(x, w) with the tile shape kIgemmTiles[tile]; w from igemmWeights; igemmFits(g);
// grid: igemmPersistentGrid (persistent tiles only); a wgmma tile on compute capability 9.0 only.
void qconvIgemm(const int8_t* x, const int8_t* w, void* y, const IgemmGeometry& g, const IgemmEpilogue& e, int tile,
                int grid, cudaStream_t s);

}  // namespace qrt::cuda::launch
