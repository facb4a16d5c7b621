// MaxPool(x) -> QuantizeLinear becomes QuantizeLinear(x) -> MaxPool (on int8), exactly: Q is
// monotone non-decreasing (x / scale, round half to even, + zero point, saturate; NaN -> zero
// point), so the max of quantized values is the quantized max, and MaxPool's padding never wins.
// Why: in ResNet-style INT8 graphs the stem is Conv -> Relu -> MaxPool -> Q; after the swap,
// foldQdq fuses the Q into the convolution (an int8 output instead of a float one, 4x fewer
// bytes), the pool runs on int8, and its readers see a non-negative int8 tensor (u8 sources for
// the cpu backend's QConv). Runs before foldQdq (builder's quantizeExplicitly).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Swaps every MaxPool whose only reader is a per-tensor QuantizeLinear (constant positive fp32
// scale, constant zero point, int8/uint8 output) and that has one output; `swapped` (optional) counts them.
Status quantizeBeforeMaxPool(ir::Graph& g, int* swapped = nullptr);

// The inverse, for the given QuantizeLinear nodes only: Q(x) -> MaxPool (on int8) becomes
// MaxPool(x) -> Q, when the pool is the Q's only reader (one output) and the Q is as above. Why:
// once the CUDA backend runs an INT8 stem in float (passes/unfold_qconv.h), the swap above made
// the largest tensor of the network the one quantized (ResNet-50 at batch 256: 205M elements
// through the Q, 0.83 ms on an H200); quantizing after the pool reads a quarter of that, and the
// pool runs on the float (fp16) tensor. Exact for the same reason.
Status quantizeAfterMaxPool(ir::Graph& g, const std::vector<std::string>& quantize_names, int* swapped = nullptr);

// MaxPool(x) -> QuantizeLinear (the pair above, x fp32 or fp16, both nodes accepted by
// `eligible`) becomes one qrt-domain MaxPoolQuantize(x, y_scale[, y_zero_point]) node with the
// pool's attributes (src/ops/int8_fused.cpp), the same values. Why: after quantizeAfterMaxPool the
// CUDA INT8 stem pools in fp16 (0.21 ms at ResNet-50 batch 256 on an H100) and then quantizes the
// pooled tensor (0.18 ms); one pass reads the fp16 tensor once and writes int8 (CUDA builder step,
// backends/cuda/prepare.cpp). `fused` (optional) counts them.
Status fuseMaxPoolQuantize(ir::Graph& g, const std::function<bool(const ir::Node&)>& eligible, int* fused = nullptr);

}  // namespace qrt::passes
