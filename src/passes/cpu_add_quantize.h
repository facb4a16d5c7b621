// The cpu backend's builder step for the float tail of INT8 residual blocks: Add(a, b) [-> Relu]
// -> QuantizeLinear, all three on the cpu backend, becomes one qrt AddQuantize node
// (src/ops/int8_fused.cpp; kernel src/backends/cpu/qquantize.cpp) that reads a and b once and
// writes the int8 value and, only when something else reads it, the float sum. Runs in
// finalizeEngine after the layout assignment, so the three nodes' layouts are known (they must
// agree: all elementwise, same-shape operands).
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Fuses every such chain; `fused` (optional) receives how many.
Status fuseCpuAddQuantize(ir::Graph& g, int* fused = nullptr);

}  // namespace qrt::passes
