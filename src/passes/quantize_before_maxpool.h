// MaxPool(x) -> QuantizeLinear becomes QuantizeLinear(x) -> MaxPool (on int8), exactly: Q is
// monotone non-decreasing (x / scale, round half to even, + zero point, saturate; NaN -> zero
// point), so the max of quantized values is the quantized max, and MaxPool's padding never wins.
// Why: in ResNet-style INT8 graphs the stem is Conv -> Relu -> MaxPool -> Q; after the swap,
// foldQdq fuses the Q into the convolution (an int8 output instead of a float one, 4x fewer
// bytes), the pool runs on int8, and its readers see a non-negative int8 tensor (u8 sources for
// the cpu backend's QConv). Runs before foldQdq (builder's quantizeExplicitly).
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Swaps every MaxPool whose only reader is a per-tensor QuantizeLinear (constant positive fp32
// scale, constant zero point, int8/uint8 output) and that has one output; `swapped` (optional) counts them.
Status quantizeBeforeMaxPool(ir::Graph& g, int* swapped = nullptr);

}  // namespace qrt::passes
