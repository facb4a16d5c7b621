// Launchers of the convolution family's own CUDA kernels (conv_int8.cu): the INT8 requantizing
// epilogue where cuDNN's graph cannot carry it, and scratch data for INT8 tactic timing.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "qrt/types.h"

namespace qrt::cuda::launch {

// QConv's activation in qrt's int8 epilogues. kHardSwish: where foldQdq folded it (builder.cpp;
// QRT_CUDA_QCONV_HARDSWISH=off does not), in the requantize kernel and the int8 depthwise kernel.
enum class QAct { kNone, kRelu, kClip, kHardSwish };

// y[i] = act(acc[i] * mult[c] + bias[c]) with c = i % channels (NHWC), then, for an int8 `y_type`,
// round_half_even(y / y_scale) saturated to int8 (qrt's QConv epilogue, as the reference
// computes it: reference/qops_common.h FusedEpilogue), else stored as fp32 or fp16 (the CUDA FP16
// step's QConv feeding fp16 layers: the value rounded once). `acc` holds the int32 accumulators
// as floats (exact below 2^24).
// With an int8 residual `z` (QConv's inputs 6, 7; may be null): y = act((acc * mult[c] +
// bias[c]) + z_scale * z[i]), each operation rounded as the reference rounds it. After a hard
// swish, the scalar affine post_scale, post_shift (passes/fuse_qdq.h; 1 and 0 change nothing):
// its multiply and add rounded as the reference's Mul and Add.
void requantize(const float* acc, void* y, DataType y_type, const float* mult, const float* bias, int64_t n,
                int64_t channels, QAct act, float lo, float hi, float y_scale, cudaStream_t s,
                const int8_t* z = nullptr, float z_scale = 0.f, float post_scale = 1.f, float post_shift = 0.f);

// n int8 values of a fixed pseudo-random pattern in [-64, 64) (tactic timing).
void fillInt8Pattern(void* y, int64_t n, cudaStream_t s);

}  // namespace qrt::cuda::launch
