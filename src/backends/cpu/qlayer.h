// What the cpu backend's INT8 layers (qconv.cpp: QConv; qgemm.cpp: QGemm, QMatMul) share: the
// fused epilogue of qrt's integer ops (docs/int8.md) expressed as oneDNN attributes, and the
// test that lets an int8 operand be read as u8.
//
// The reference epilogue is, per output element of channel c:
//   y = act(float(acc) * (x_scale * w_scale[c]) + bias[c]);  out = y  or  sat(rne(y / y_scale)).
// oneDNN 2.6's int8 layers compute out = post_ops(oscale[c] * (float(acc) + bias'[c])), then
// round half to even (the default MXCSR mode) and saturate to the destination type. qrt maps:
//   oscale[c] = (x_scale * w_scale[c]) / y_scale      (y_scale = 1 for float outputs)
//   bias'[c]  = bias[c] / (x_scale * w_scale[c])        (bias moved into the accumulator's scale)
//   relu      -> eltwise_relu (commutes with the positive scale)
//   clip      -> eltwise_clip(clip_min / y_scale, clip_max / y_scale)
//   hard_swish-> oscale[c] = x_scale * w_scale[c], eltwise_hardswish on the real value, then
//                eltwise_linear(1 / y_scale) (int8 out): oneDNN 2.6's hardswish takes no alpha,
//                so it cannot run on values already divided by y_scale
// The arithmetic is the same up to float rounding (a few ulps of max(|acc * m|, |bias|)), not
// bit for bit: a float output agrees to that tolerance, an int8 output equals the reference's
// except where y / y_scale lies within a few ulps of a rounding tie, where it may be one step
// off. Bit-exactness would need the multiply-add-divide order of the reference in the epilogue,
// which oneDNN 2.6's output-scale model (scale after bias, multiply instead of divide) cannot
// express. tests/cpu_int8_test.cpp checks both bounds.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>
#include <vector>

#include "backends/kernel.h"

namespace qrt::cpu {

// The node's epilogue: which inputs hold the bias and the scales (-1: none) and the activation.
struct QuantEpilogue {
  enum class Act { kNone, kRelu, kClip, kHardSwish };
  int bias = -1, x_scale = -1, w_scale = -1, y_scale = -1;
  Act act = Act::kNone;
  float clip_min = 0.f, clip_max = 0.f;
  float post_scale = 1.f, post_shift = 0.f;  // the affine after a hard swish (passes/fuse_qdq.h)
};
// Reads the activation attributes (as the reference kernels do: clip bounds default to 0).
Result<QuantEpilogue> readQuantEpilogue(const ir::Node& node, int bias, int x_scale, int w_scale, int y_scale);

// True when the node's scale and bias inputs are constants (the oneDNN kernels bake them into
// the primitive's attributes at reshape).
bool epilogueInputsConstant(const ir::Node& node, const QuantEpilogue& e);

// The epilogue for concrete inputs (reshape time: scales and bias must have host data).
struct QuantAttrs {
  std::vector<float> scales;  // 1 or `channels` output scales
  std::vector<float> bias;    // bias' per channel; empty: no bias
  dnnl::primitive_attr attr;  // user scratchpad, output scales, post-ops
};
// `channel_dim` is the destination dim of the channels (1 for conv and 2-D matmul dst).
Result<QuantAttrs> quantAttrs(const QuantEpilogue& e, const std::vector<TensorView>& inputs, int64_t channels,
                              int channel_dim, const std::string& where);

// True when the weights a primitive wants (`chosen`) are `given` as they are. For s8 sources
// oneDNN's int8 weight layouts carry extra data (the compensation sum_k 128 * w, computed by the
// reorder) which a plain layout lacks even where the element order matches (e.g. a 1x1 grouped
// convolution): those always go through the reorder.
bool sameWeights(const dnnl::memory::desc& chosen, const dnnl::memory::desc& given);

// True when every value of the int8 tensor v is >= 0 whatever the inputs, so that its bytes
// read as u8 are the same numbers (oneDNN's VNNI kernels take u8 sources without the s8
// compensation pass): the int8 output of a qrt integer op with relu or a clip whose lower bound
// is >= 0, of an AddQuantize with relu, the QuantizeLinear of a Relu (NaN quantizes to 0), and
// MaxPool of such a tensor.
bool nonNegativeInt8(const ir::Value* v);

}  // namespace qrt::cpu
