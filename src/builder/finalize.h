// The last step of every build: choose a backend and precision per node of an optimized graph,
// check every kernel can be created, and wrap the graph into an engine.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ir/graph.h"
#include "qrt/engine.h"

namespace qrt {

Result<std::shared_ptr<Engine>> finalizeEngine(std::unique_ptr<ir::Graph> graph,
                                               std::map<std::string, std::string> metadata);

}  // namespace qrt
