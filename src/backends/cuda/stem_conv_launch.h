// qrt's stem convolution (stem_conv.cu): a 2-D convolution with few input channels (C <= 4,
// group 1, dilation 1: the first layer of an image network, ResNet's 7x7 stride-2 conv1) as an
// implicit GEMM on the tensor cores (mma.sync m16n8k16, fp16 in, fp32 accumulation), with the
// FusedConv epilogue (bias, activation) and a channels-last fp16 output. cuDNN has no good
// kernel for C = 3 on Hopper (bench/gpu/NOTES.md: 5x the floor), and its input must first be
// cast to fp16 and laid out NHWC by another kernel; this one also reads the engine's fp32 (or
// fp16) NCHW input itself (stem_input.cpp decides when).
//
// GEMM view: rows = output pixels (n, oy, ox), columns = output channels, K = the patch
// (kh * kw * C, zero-padded to a multiple of 16). A block owns 64 channels (its weights stay
// in shared memory). Two kernels:
// - row tiles (the default; stemConvPrepare sets g.rows): a block loops over tiles of g.rows
//   output rows x g.tw columns of one image, stages the input window they need once (fp16,
//   [C][rows][columns]) and reads the mma fragments straight from it; 8 warps, two m16 pixel
//   tiles x 64 channels each; 16-byte NHWC stores after a transpose within lane quads.
//   ResNet-50 conv1, batch 256, H200: 0.44 ms (cuDNN 0.56 ms + 0.38 ms of Cast and layout
//   change that reading the fp32 NCHW input removes).
// - gather (QRT_CUDA_STEM_KERNEL=gather, or where the window exceeds the shared memory): tiles
//   of 128 pixels whose patch rows are gathered into shared memory, four warps (1.2 ms there).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

struct StemGeometry : Conv2dShape {  // dilation 1
  enum class Input { kNhwcHalf, kNchwHalf, kNchwFloat };
  Input input = Input::kNhwcHalf;
  int k_pad = 0;  // kh * kw * c rounded up to 16 (stemKPad)
  int blocks = 0;  // blocks along the pixel tiles (stemConvPrepare), so a launch makes no host query
  // Set by stemConvPrepare: the row-tile kernel's tile (output rows x columns, a multiple of 16),
  // or rows = 0 for the gather kernel (NHWC input, or QRT_CUDA_STEM_KERNEL=gather).
  int rows = 0, tw = 0;
  int probe = 0;  // QRT_CUDA_STEM_PROBE (measurement only, wrong results): 1 skips input loads, 2 the mma, 4 the stores
  // Tap pairs (set by stemConvPrepare where stemTapPairs holds; the row-tile and pooled kernels):
  // each patch row (c, r) of the NCHW patch order padded to an even number of taps (an odd kw gets
  // one more, of zero weight), so k and k + 1 of an mma fragment (k even) are neighbouring columns
  // of one window row at an even offset (the stride is even), read as one 32-bit word instead of
  // two 16-bit loads and a pack. k_pad is then stemKPad(kh, stemTapPitch(g), c) (ResNet's conv1:
  // 176 against 160, one k-step more than ten).
  bool pairs = false;
  // y quantized per tensor (QuantizeLinear of the fp16 results: round_half_even(v * q_inv) +
  // q_zero, clamped to [q_lo, q_hi]) and stored int8 / uint8, for an INT8 stem whose pool then
  // reads a quarter of the bytes (stem_quantize.cpp); kNone: fp16 y. setStemQuant fills them.
  enum class Quant { kNone, kInt8, kUInt8 };
  Quant quant = Quant::kNone;
  float q_inv = 1.f, q_zero = 0.f, q_lo = 0.f, q_hi = 0.f;
  // The 3x3 / stride 2 / pad 1 max pooling after the convolution (and its activation), in the
  // kernel (stem_pool.cu; the pass stem_pool.cpp): y is [N, pool_h, pool_w, M]; oh and ow stay the
  // convolution's. A quantized y quantizes the pooled values: the same bytes as pooling the
  // quantized ones (quantizing is monotone). segs: pooled-row segments an image (stemConvPrepare).
  bool pool = false;
  int pool_h = 0, pool_w = 0, segs = 0;
  // The direct kernel (stem_direct.cu: fp32 FMAs, a pixel a thread) instead of the tensor-core ones;
  // set by stemConvPrepare where stemDirectApplies.
  bool direct = false;
};

// y quantized by scale (positive, finite) and zero point z, as int8 (else uint8).
inline void setStemQuant(StemGeometry* g, bool int8, float scale, float z) {
  g->quant = int8 ? StemGeometry::Quant::kInt8 : StemGeometry::Quant::kUInt8;
  g->q_inv = 1.f / scale;
  g->q_zero = z;
  g->q_lo = int8 ? -128.f : 0.f;
  g->q_hi = int8 ? 127.f : 255.f;
};

constexpr int kStemMaxK = 256;  // shared memory bounds the patch: 128 + 64 rows of k_pad + 8 halves

inline int stemKPad(int kh, int kw, int c) { return (kh * kw * c + 15) / 16 * 16; }

// The taps a patch row of g's packed weights holds: kw, or kw rounded up to even with tap pairs
// (NCHW patch order; the kernels' tables too, so host and device).
#ifdef __CUDACC__
__host__ __device__
#endif
inline int stemTapPitch(const StemGeometry& g) { return g.pairs ? (g.kw + 1) & ~1 : g.kw; }

// Whether the row-tile kernels can read g's fragments in tap pairs: an NCHW input, an even column
// stride (so every pixel's window column is even), the padded patch within kStemMaxK;
// QRT_CUDA_STEM_PAIRS=off turns them off.
bool stemTapPairs(const StemGeometry& g);

// Tap pairs on or off, with the k_pad that goes with them.
inline void setTapPairs(StemGeometry* g, bool on) {
  g->pairs = on;
  g->k_pad = stemKPad(g->kh, stemTapPitch(*g), g->c);
}

// Whether the kernel computes this geometry (C <= 4, M a multiple of 8, the patch within
// kStemMaxK, 32-bit indices) and this activation.
bool stemConvSupported(const StemGeometry& g);
bool stemActivationSupported(UnaryOp op);

// The weights [M, C, kh, kw] (fp16 bits) as the kernel reads them: [M, k_pad] fp16 bits in
// the patch order of g.input (NCHW: (c, r, s), s < stemTapPitch(g); NHWC: (r, s, c)), zero-padded.
std::vector<uint16_t> stemPackWeights(const uint16_t* w, const StemGeometry& g);

// Whether the pooled kernel (g.pool) computes g: the pooled dims the window's, the convolution's
// columns within one row tile (ow <= 128), its shared memory within two blocks an SM.
bool stemPoolSupported(const StemGeometry& g);

// The segments of an image's pooled rows the pooled kernel splits its work into (a block an image's
// segment and 64 channels): doubled while the n images' segments leave some of `slots` resident
// blocks idle and a segment keeps at least 4 pooled rows (its extra halo row then at most 1 of 9).
inline int stemPoolSegments(int64_t n, int pool_h, int64_t slots) {
  int segs = 1;
  while (n * segs < slots && pool_h / (segs * 2) >= 4) segs *= 2;
  return segs;
}

// Setup at reshape: the kernel's shared-memory limit and g->blocks (a grid that keeps every
// SM's resident blocks busy, each looping over pixel tiles). Call before stemConv on this
// device, outside stream capture.
cudaError_t stemConvPrepare(StemGeometry* g);

// Without a build-time tactic the stem kernel is the default only for this many output pixels
// (N * OH * OW) or more. Measured on an H200 (bench/gpu/NOTES.md, "Stem kernel") with the
// gather kernel: ResNet-50's conv1 at batch 256 (3.2M pixels) 1.25 ms against cuDNN's heuristic
// plan 1.50 ms + 0.39 ms of Cast and layout change; at batch 1 (12.5K pixels) 0.030 ms against
// 0.020 + ~0.01 ms. The row-tile kernel (0.44 ms at batch 256) is not yet timed at batch 1.
constexpr int64_t kStemDefaultPixels = int64_t{1} << 20;

// y[N, OH, OW, M] (fp16, NHWC; or int8 / uint8 per g.quant) = act(conv(x, w) + bias); bias [M]
// fp16 or null. With g.pool, y = MaxPool3x3/2/1 of that, [N, pool_h, pool_w, M].
void stemConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
              UnaryOp act, float a, float b, cudaStream_t s);

// The direct kernel (stem_direct.cu) takes stems of at most this many taps (kh * kw * C: the 3x3,
// 3-channel stems of the MobileNet family), up to 64 output channels, no pool. It is the default
// there (fp16 or quantized y); QRT_CUDA_STEM_KERNEL=rows (or gather) keeps the tensor-core kernels.
constexpr int kStemDirectMaxK = 32;
bool stemDirectApplies(const StemGeometry& g);
// stem_direct.cu's halves of stemConvPrepare and stemConv for g.direct.
cudaError_t stemDirectPrepare(StemGeometry* g);
void stemDirectConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
                    UnaryOp act, float a, float b, cudaStream_t s);

// stem_pool.cu's halves of stemConvPrepare and stemConv for g.pool.
cudaError_t stemPoolPrepare(StemGeometry* g);
void stemPoolConv(const void* x, const void* w_packed, const void* bias, void* y, const StemGeometry& g, bool act_on,
                  UnaryOp act, float a, float b, cudaStream_t s);

}  // namespace qrt::cuda::launch
