// The graph optimizations the builder runs, in order, until nothing changes.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

Status runDefaultPasses(ir::Graph& graph);

}  // namespace qrt::passes
