// Dead-node removal: drops nodes none of whose outputs reach a graph output.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

Status removeDeadNodes(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
