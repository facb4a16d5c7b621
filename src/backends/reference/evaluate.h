// Runs one node on the host with the reference kernels, allocating its outputs. Used for
// constant folding at build time and for shape computations at reshape time.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"

namespace qrt::reference {

// inputs[i] is nullptr for an absent optional input. Output dtypes/dims come from the node's
// output Values, which must be concrete.
Result<std::vector<HostTensor>> evaluateNode(const ir::Node& node, const std::vector<const HostTensor*>& inputs);

}  // namespace qrt::reference
