// The activation of a convolution epilogue in qrt's own convolution kernels (depthwise.cu,
// stem_conv.cu): the fused activations FusedConv carries (ReLU, leaky ReLU, clip, sigmoid, swish,
// hard sigmoid, hard swish; a / b are the slope or bounds), computed in fp32 after the bias (and
// residual) add. `on` false: the identity.
#pragma once

#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

// HardSwish with the reference kernel's float arithmetic (an IEEE division, no contraction), so
// the int8 epilogues that apply it (conv_int8.cu, qdepthwise.cu) round as the reference does.
__device__ __forceinline__ float hardSwish(float v) { return v * fmaxf(0.f, fminf(1.f, v / 6.f + 0.5f)); }

__device__ __forceinline__ float epilogueActivate(bool on, UnaryOp op, float v, float a, float b) {
  if (!on) return v;
  switch (op) {
    case UnaryOp::kRelu: return fmaxf(v, 0.f);
    case UnaryOp::kLeakyRelu: return v >= 0.f ? v : a * v;
    case UnaryOp::kClip: return fminf(fmaxf(v, a), b);
    case UnaryOp::kSigmoid: return 1.f / (1.f + expf(-v));
    case UnaryOp::kSwish: return v / (1.f + expf(-v));
    case UnaryOp::kHardSigmoid: return fmaxf(0.f, fminf(1.f, a * v + b));
    case UnaryOp::kHardSwish: return hardSwish(v);
    default: return v;
  }
}

}  // namespace qrt::cuda::launch
