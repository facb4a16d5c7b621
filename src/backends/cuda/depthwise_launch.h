// qrt's own depthwise convolution (depthwise.cu): group == C == M, any kernel size, strides,
// pads and dilations, with the FusedConv epilogue (bias, a residual of the output's shape, the
// activation) in the same pass. cuDNN's depthwise plans on Hopper are slow for FP16 NHWC
// (MobileNetV2: 99% of its time in convolutions, bench/gpu/NOTES.md); a depthwise layer moves
// little data per output and is memory bound, so a direct kernel that reads each 16-byte vector
// of channels once per tap (L1 catches the overlap between neighbouring outputs) is enough.
// The convolution tuner (conv_tactics.cpp) times it against cuDNN's plans as the tactic "dw".
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

struct DepthwiseGeometry : Conv2dShape {  // m == c
  bool channels_last = false;
};

// The activations the kernel applies itself (others: not a depthwise tactic).
bool depthwiseActivationSupported(UnaryOp op);

// y = act(conv(x, w) + bias + z). NCHW: w is the node's [C, 1, kh, kw]; channels-last: x, y, z
// are NHWC and w is [kh * kw, C] (depthwiseWeightsTapMajor). bias [C] and z may be null. Every
// index must fit in int32 (the caller checks: depthwiseFits).
void depthwiseConv(DataType t, const void* x, const void* w, const void* bias, const void* z, void* y,
                   const DepthwiseGeometry& g, bool act_on, UnaryOp act, float a, float b, cudaStream_t s);

inline bool depthwiseFits(const DepthwiseGeometry& g) {
  const int64_t in = int64_t{g.n} * g.c * g.h * g.w, out = int64_t{g.n} * g.c * g.oh * g.ow;
  return in < (int64_t{1} << 31) && out < (int64_t{1} << 31);
}

}  // namespace qrt::cuda::launch
