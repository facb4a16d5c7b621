// INT8 residual blocks as one convolution: after foldQdq,
//
//   QConv(x_q, w_q, bias, x_s, w_s) -> y (fp32, read only by the Add)
//   Add(y, DequantizeLinear(z_q, z_s))          (either input order; z_q int8 of y's shape)
//   [-> Relu | Clip] [-> QuantizeLinear(y_s, int8 0)]
//
// becomes QConv(x_q, w_q, bias, x_s, w_s, y_s?, z_q, z_s): y = act(acc * x_s * w_s[c] + bias[c]
// + z_s * z_q), int8 when the Q was absorbed (TensorRT's int8-in/int8-out residual convolution;
// the float tail it replaces moved 4 + 4 + 1 + 4 bytes per element through an AddQuantize, the
// fused node reads 1 and writes 1). The conv must have no activation of its own (the activation
// applies after the sum), the z DequantizeLinear per tensor with zero point 0. The Relu/Q steps
// are those of foldQdq (passes/fuse_qdq_match.h: matchTail): each is taken only when the value
// before it has that one reader. DequantizeLinear nodes left without readers are removed.
//
// The residual Q/DQ come from insertQdq's QdqOptions::quantize_residuals (or from a QDQ model
// that quantizes its residual branches, as NVIDIA recommends for TensorRT). The CUDA backend runs
// this pass (backends/cuda/prepare.cpp); the reference backend computes the fused node exactly
// as the unfused graph (reference/qops_common.h, FusedEpilogue::applyResidual); the cpu backend's
// oneDNN QConv does not take z, so CPU builds do not run the pass.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Rewrites every match; *fused (optional) counts them.
Status fuseQConvResidual(ir::Graph& g, int* fused = nullptr);

}  // namespace qrt::passes
