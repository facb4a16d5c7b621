// Public descriptions (TensorInfo, LayerInfo) of a graph, shared by Network and Engine.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/network.h"

namespace qrt::ir {

std::vector<TensorInfo> describeInputs(const Graph& g);
std::vector<TensorInfo> describeOutputs(const Graph& g);
std::vector<LayerInfo> describeLayers(const Graph& g);
// describeLayers plus each layer's reason and timings from the builder's "layer_tactics"
// metadata (a JSON object by layer name, see src/builder/precision.cpp).
std::vector<LayerInfo> describeLayers(const Graph& g, const std::map<std::string, std::string>& metadata);

}  // namespace qrt::ir
