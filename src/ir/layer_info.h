// Public descriptions (TensorInfo, LayerInfo) of a graph, shared by Network and Engine.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "qrt/network.h"

namespace qrt::ir {

std::vector<TensorInfo> describeInputs(const Graph& g);
std::vector<TensorInfo> describeOutputs(const Graph& g);
std::vector<LayerInfo> describeLayers(const Graph& g);

}  // namespace qrt::ir
