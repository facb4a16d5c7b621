// Constant folding: evaluates nodes whose inputs are all known at build time.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Repeats shape inference and evaluates, with the reference kernels, every node whose inputs
// are constants (and Shape nodes whose input dims are static), replacing them by constants.
// Quantize/DequantizeLinear are kept: they carry the INT8 intent of the graph. Sets
// *changed when something was folded.
Status foldConstants(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
