// Conv / Gemm epilogue fusion: a layer, the residual Add after it and the activation after that
// become one qrt-domain node (FusedConv or FusedGemm, src/ops/fused.cpp) that the backends run
// as one kernel (oneDNN post-ops, cuDNN fused epilogues).
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Fuses, for float layers:
//   Conv(X, W, B?)                          [-> Add(., Z)] [-> activation]  -> FusedConv(X, W, B, Z)
//   Gemm(A, B, C?)                          [-> Add(., Z)] [-> activation]  -> FusedGemm(A, B, C, Z)
//   MatMul(A, B 2-D) [-> Add(., bias[N])]   [-> Add(., Z)] [-> activation]  -> FusedGemm(A, B, bias, Z)
// where the activation is Relu, LeakyRelu, Clip (constant bounds), HardSwish, HardSigmoid,
// Sigmoid, or Swish written as Mul(v, Sigmoid(v)). The Add must not enlarge the layer's output
// (Z broadcasts to it). Each intermediate value must be read only by the next node of the chain
// (Swish: only by its Sigmoid and Mul) and not be a graph output; a layer with nothing to absorb
// is left alone. Layers whose X or W comes from a DequantizeLinear are left to foldQdq (INT8).
// The fused node is named "layer + add + activation" and produces the chain's last value. Sets
// *changed when anything was fused.
Status fuseConvActivation(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
