// Launchers of qrt's own CUDA kernels (defined in the .cu files), with plain arguments so the
// kernel classes in the .cpp files need no device code. Every launcher queues work on `stream`
// and returns at once; the caller checks cudaGetLastError (CudaKernel::launched).
//
// Float kernels take fp32 or fp16 data (DataType kFloat / kHalf) and compute in fp32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qrt/types.h"

namespace qrt::cuda::launch {

constexpr int kMaxRank = 8;

// The shape of a 2-D convolution as qrt's own convolution kernels take it (depthwise, stem, int8
// implicit GEMM; conv2dShape in depthwise_geometry.h fills it from the IR): x [n, c, h, w],
// y [n, m, oh, ow] (logical dims; the kernels say which layout they read), kh x kw taps, strides,
// leading pads, dilations.
struct Conv2dShape {
  int n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0, m = 0;
  int kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// ---- elementwise.cu ----
enum class UnaryOp {
  kRelu, kLeakyRelu, kSigmoid, kTanh, kHardSigmoid, kHardSwish, kElu, kSelu, kCelu, kSoftplus, kSoftsign,
  kThresholdedRelu, kMish, kGelu, kGeluTanh, kExp, kLog, kSqrt, kNeg, kAbs, kReciprocal, kErf, kFloor, kCeil,
  kRound, kSin, kCos, kClip, kSwish, kIdentity,
};
// y = op(x) with the op's parameters a, b (LeakyRelu alpha; HardSigmoid alpha, beta; Clip min, max...).
void unary(UnaryOp op, DataType t, const void* x, void* y, int64_t n, float a, float b, cudaStream_t s);

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kMean, kPRelu };
// Broadcast operands: out has `rank` dims; a_strides / b_strides are element strides of a and b
// over the output's dims (0 where broadcast).
struct Broadcast {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t a_strides[kMaxRank] = {};
  int64_t b_strides[kMaxRank] = {};
};
// `same`: a and b are both dense with the output's shape (no index arithmetic).
void binary(BinaryOp op, DataType t, const void* a, const void* b, void* y, int64_t n, const Broadcast& bc, bool same,
            cudaStream_t s);

// Cast between fp32, fp16, fp64, int8, uint8, int32, int64 and bool (ONNX Cast semantics:
// float to int truncates toward zero, to bool is x != 0).
void cast(DataType from, const void* x, DataType to, void* y, int64_t n, cudaStream_t s);

// Conv epilogue: y = act(y + bias[c] + z), c the channel of each element; bias and z (same
// shape as y) may be null; act is applied when `act_on` (the unary op with parameters a, b).
// NCHW: c = (i / inner) % channels; NHWC (channels_last): c = i % channels.
void biasActivation(DataType t, void* y, const void* bias, const void* z, int64_t n, int64_t channels, int64_t inner,
                    bool channels_last, bool act_on, UnaryOp act, float a, float b, cudaStream_t s);

// Inference batch normalization over [outer, channels, inner] (NCHW) or [.., channels] (NHWC);
// x/y of type t, the four parameter vectors of type pt.
void batchNorm(DataType t, const void* x, void* y, DataType pt, const void* scale, const void* bias, const void* mean,
               const void* var, float epsilon, int64_t n, int64_t channels, int64_t inner, bool channels_last,
               cudaStream_t s);

// Fills n elements of type t with a fixed pseudo-random pattern (tactic timing runs on such data:
// zeros can run faster than real data): fp32/fp16 in [-0.5, 0.5), int8 over its range
// (fillInt8Pattern); other types are zeroed. Never writes past n elements of t.
void fillPattern(DataType t, void* y, int64_t n, cudaStream_t s);

// ---- movement.cu ----
// Copies an N-d region elementwise: for each index i of `dims`, dst[sum i_k * dst_strides[k]] =
// src[sum i_k * src_strides[k]]. Elements of 1, 2, 4 or 8 bytes. Transpose, Slice, Concat, Expand
// and layout changes are all this copy with other strides.
struct StridedCopy {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t src_strides[kMaxRank] = {};
  int64_t dst_strides[kMaxRank] = {};
};
void stridedCopy(const void* src, void* dst, size_t elem_bytes, const StridedCopy& c, cudaStream_t s);

// ---- pool.cu ----
// Max / average pooling over up to 3 spatial dims (fewer: leading extents of 1), NCHW or NHWC.
struct PoolGeometry {
  int64_t n = 0, c = 0;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, stride[3] = {1, 1, 1},
          dilation[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, pad_end[3] = {0, 0, 0};
  bool channels_last = false;
  bool count_include_pad = false;
};
void maxPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s);
void avgPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s);
// MaxPoolQuantize (src/ops/int8_fused.cpp): y = saturate(round_half_even(MaxPool(x) / scale) + zero),
// x fp32 or fp16, y int8 or uint8 (yt); the pool's kernels with a quantizing store.
void maxPoolQuantize(DataType xt, const void* x, DataType yt, void* y, const PoolGeometry& g, float scale, float zero,
                     cudaStream_t s);
// Global average / max over `spatial` positions of [n*c] rows (NCHW) or [n][spatial][c] (NHWC).
// globalPoolPlan (host only, at reshape) picks the reduction from the shape: few channels over a
// large plane split the plane over several blocks, whose fp32 partials go to a workspace of
// workspaceBytes() and a second pass combines in a fixed order (deterministic: no atomics).
struct GlobalPoolPlan {
  enum Kind { kRows, kRowSplit, kNhwc, kNhwcThreads };
  Kind kind = kRows;
  int64_t n = 0, c = 0, spatial = 0;
  int64_t splits = 1, chunk = 0;  // blocks per reduction, plane positions per block
  bool vector = false;            // NHWC: 16-byte channel vectors (C a multiple of 8 fp16 / 4 fp32)
  size_t workspaceBytes() const { return splits > 1 ? static_cast<size_t>(n * c * splits) * sizeof(float) : 0; }
};
GlobalPoolPlan globalPoolPlan(DataType t, int64_t n, int64_t c, int64_t spatial, bool channels_last);
void globalPool(DataType t, bool max, const void* x, void* y, const GlobalPoolPlan& p, void* workspace,
                cudaStream_t s);

// ---- softmax.cu ----
// Softmax / LogSoftmax along the middle dim of [outer, len, inner].
void softmax(DataType t, bool log, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, cudaStream_t s);

// ---- resize.cu ----
// Separable resize of a rank-`rank` tensor (NCHW order): along each axis, output index j reads
// taps idx[axis_offset + j * taps .. + taps) with weights w[...] (taps 1: nearest, 2: linear).
struct ResizeGeometry {
  int rank = 0;
  int64_t in[kMaxRank] = {}, out[kMaxRank] = {};
  int taps[kMaxRank] = {};
  int64_t table_offset[kMaxRank] = {};  // into idx / w (entries: out[axis] * taps[axis])
};
void resize(DataType t, const void* x, void* y, const ResizeGeometry& g, const int32_t* idx, const float* w,
            cudaStream_t s);

}  // namespace qrt::cuda::launch
