// Layer normalization recognition: the chain exporters write for LayerNorm (PyTorch before
// opset 17, Paddle: PP-OCRv4's recognizer has five) becomes one LayerNormalization node.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Rewrites, on float tensors,
//   m = ReduceMean(x, axes), d = x - m, v = ReduceMean(d ^ 2 (or d * d), axes),
//   y = d / Sqrt(v + eps) [* gamma] [+ beta]
// with axes the last k dims of x (keepdims), eps a scalar constant, gamma and beta constants
// that broadcast within those k dims, into LayerNormalization(x, gamma (or 1), beta,
// axis = -k, epsilon = eps). Every intermediate must be read only inside the chain and not be
// a graph output. LayerNormalization multiplies by 1 / sqrt(v + eps) where the chain divided:
// results differ by about one unit in the last place. Sets *changed when anything was rewritten.
Status recognizeLayerNorm(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
