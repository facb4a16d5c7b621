// What an engine holds: the optimized, annotated graph and its metadata.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ir/graph.h"
#include "qrt/engine.h"

namespace qrt {

struct Engine::Impl {
  std::unique_ptr<ir::Graph> graph;            // topologically sorted; node->backend set
  std::map<std::string, std::string> metadata;
  std::shared_ptr<void> storage;               // keeps a loaded file's bytes alive (constants point into it)
  // A device backend's state shared by the engine's contexts (the CUDA backend keeps the device
  // copies of the constants here); made by the first context that needs it, under the mutex.
  mutable std::shared_ptr<void> device_state;
  mutable std::mutex device_mutex;
};

}  // namespace qrt
