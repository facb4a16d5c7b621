// qrt's INT8 depthwise convolution (qdepthwise.cu), QConv's kernel for depthwise layers
// (qdepthwise.cpp). cuDNN has no fast int8 depthwise plan on Hopper: MobileNetV2's int8
// depthwise layers took 1.7-5.4 ms each at batch 256 on an H100 (bench/gpu/NOTES.md), where
// the layer only reads its input once and is memory bound. Same scheme as the FP16 kernel
// (depthwise_launch.h): channels-last, one thread per output pixel and vector of 16 int8
// channels (one 16-byte load per tap), int32 accumulation, QConv's epilogue in the same pass.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/conv_launch.h"
#include "backends/cuda/depthwise_launch.h"

namespace qrt::cuda::launch {

// QConv's epilogue (reference/qops_common.h FusedEpilogue), per channel c:
//   v = act(float(acc) * mult[c] + bias[c])  with mult = x_scale * w_scale[c], fp32, no FMA
//   y = v (fp32 out), v rounded to fp16 once (fp16 out: a QConv feeding fp16 layers); int8 out:
//   the folded form below, within one step of saturate(round_half_even(v / y_scale))
struct QDepthwiseEpilogue {
  const float* mult = nullptr;  // [C], device
  const float* bias = nullptr;  // [C], device (zeros when the node has none)
  QAct act = QAct::kNone;
  float lo = 0.f, hi = 0.f;  // clip bounds (unscaled)
  bool y_int8 = true;
  bool y_half = false;  // float y stored as fp16 (y_int8 false)
  // int8 y without a hard swish: mult and bias are divided by y_scale (OwnQConvKernel::uploadFolded)
  // and y = round_half_even(clamp(float(acc) * mult[c] + bias[c], qlo, qhi)), one FFMA where the
  // form above rounds three times (a value within an ulp of a rounding midpoint may land one step
  // away, as in the implicit GEMM's epilogue and cuDNN's fused one); qlo / qhi hold the activation
  // and the saturation. The exact form cost ~23 instructions a value (the IEEE division and its
  // divergent slow-path branch): MobileNetV2's int8 depthwise layers issued ~70 instructions an
  // output channel and ran 1.3-1.5x slower than the FP16 engine's (ncu, H200, session 13).
  // With a hard swish (act kHardSwish) mult and bias stay unscaled and the value is
  // hardSwish(float(acc) * mult[c] + bias[c]) * post_mul + post_add before the clamp (the hard
  // swish's division by 6 a multiply too), post_mul = post_scale / y_scale and post_add =
  // post_shift / y_scale (the affine after the hard swish, passes/fuse_qdq.h; without one 1 / y_scale
  // and 0): the exact form's two IEEE divisions made the PP-OCRv4 detector's folded HardSwish
  // layers slower than a QConv and a HardSwish apart (session 13).
  float qlo = -128.f, qhi = 127.f;
  float post_mul = 1.f, post_add = 0.f;
};

// x [N, H, W, C] int8 (channels-last), w [kh * kw, C] int8 (tap-major), y [N, OH, OW, C] int8,
// fp32 or fp16. wq (may be null; used where C % 16 == 0): the weights for __dp4a, [ceil(kh * kw / 4), C]
// int32 words whose byte j is the channel's tap 4g + j, zero past the last (depthwiseWeightsDp4a).
// g.channels_last must be set; every index must fit in int32 (depthwiseFits).
void depthwiseConvInt8(const int8_t* x, const int8_t* w, const int32_t* wq, void* y, const DepthwiseGeometry& g,
                       const QDepthwiseEpilogue& e, cudaStream_t s);

// wq of depthwiseConvInt8 from the node's [C, 1, kh, kw] int8 weights (host side).
inline std::vector<int32_t> depthwiseWeightsDp4a(const int8_t* w, int64_t c, int64_t taps) {
  const int64_t groups = (taps + 3) / 4;
  std::vector<int32_t> out(static_cast<size_t>(groups * c), 0);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) {
      const uint32_t byte = static_cast<uint8_t>(w[ch * taps + t]);
      out[static_cast<size_t>(t / 4 * c + ch)] |= static_cast<int32_t>(byte << (8 * (t % 4)));
    }
  return out;
}

}  // namespace qrt::cuda::launch
