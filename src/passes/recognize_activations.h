// Activation recognition: element-wise chains that exporters write for activations ONNX has as
// single ops become those ops, so fuse_conv_activation (and fast kernels) see them.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Rewrites, on float tensors, with scalar constants (r > 0; the intermediate values read by
// nothing else and not graph outputs):
//   Clip(x + b, 0, r) / r        (or * (1/r))        -> HardSigmoid(x, alpha = 1/r, beta = b/r)
//   x * Clip(x + 3, 0, 6) / 6    (or * (1/6))        -> HardSwish(x)
//   x * HardSigmoid(x, 1/6, 0.5)                     -> HardSwish(x)
//   Min(Max(x, lo), hi), Max(Min(x, hi), lo), Min(Relu(x), hi)   -> Clip(x, lo, hi)  (Relu6)
// Rounding: HardSigmoid computes alpha * x + beta and HardSwish x * (x / 6 + 0.5) clamped, where
// the chains computed (x + b) / r: the results differ by a few units in the last place (at
// most about 5e-7 relative to the output's magnitude in fp32; tests/passes_test.cpp checks
// 1e-6). A NaN input gives NaN through Clip but 1 through HardSigmoid's min/max. The Clip
// rewrite is exact. A model whose opset predates HardSwish (14) gets it anyway: qrt's op table
// does not depend on the opset. Sets *changed when anything was rewritten.
Status recognizeActivations(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
