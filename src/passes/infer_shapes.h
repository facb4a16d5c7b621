// Shape and type inference over a whole graph, using each op's OpDef::infer.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Fills dtype/dims of every node output from its inputs (dims -1 where dynamic). Graph inputs
// and constants must already carry dtype and dims. Fails naming the node when an op is
// unsupported or its inputs are wrong.
Status inferShapes(ir::Graph& graph);

}  // namespace qrt::passes
