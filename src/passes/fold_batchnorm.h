// BatchNormalization folding: an inference-form BatchNormalization right after a Conv,
// ConvTranspose or Gemm (with constant weights) becomes part of that layer's weights and bias.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// For every BatchNormalization whose input X is the only use of a Conv / ConvTranspose / Gemm
// output (not a graph output), whose scale, B, mean and var are constants with one value per
// channel, and whose layer has constant float weights (and bias, and for Gemm a per-column C):
//   s = scale / sqrt(var + epsilon);  W' = W * s (per output channel);  b' = (b - mean) * s + B
// computed in double and rounded once to the weights' dtype. The layer then produces the
// BatchNormalization's output, and the BatchNormalization is removed. Sets *changed when
// anything was folded.
Status foldBatchNorm(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
