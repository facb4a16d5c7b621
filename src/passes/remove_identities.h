// Identity removal: nodes that return their input unchanged are bypassed, so that the patterns
// around them (PP-OCR's Swish is x * Sigmoid(x * 1.0)) become visible to the fusion passes.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Bypasses Identity, inference Dropout (its mask unused), and Mul / Div by a constant 1 and Sub
// of a constant 0 (exact in every float format, -0 and NaN included; Add of 0 is not removed:
// -0 + 0 is +0) whose constant does not enlarge the other operand. Readers of the node's output
// read its input instead; a node whose output is a graph output is kept (the output keeps its
// name). Sets *changed when anything was removed.
Status removeIdentities(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
