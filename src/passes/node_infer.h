// Inference of one node, shared by the whole-graph pass, constant folding and the runtime.
#pragma once

#include <functional>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Returns the known value of a graph value, or nullptr.
using ValueLookup = std::function<const HostTensor*(const ir::Value*)>;

// Runs the op's inference over the node's current input dtypes/dims and known values, and
// writes dtype/dims into its output Values.
Status inferNode(ir::Node& node, const ValueLookup& value_of);

}  // namespace qrt::passes
