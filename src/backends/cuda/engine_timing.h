// Times a built CUDA engine on this GPU, for the builder's choices between whole engines
// (builder/int8_choice.h): end to end over CUDA-graph replays, and per layer with CUDA events
// around each kernel (profile.h). CUDA-free interface; compiled only with the CUDA backend.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "backends/cuda/profile.h"
#include "qrt/engine.h"

namespace qrt::cuda {

struct EngineTimes {
  double median_ms = 0;           // one run, replayed as a CUDA graph
  std::vector<LayerTime> layers;  // per layer, total_ms / runs = its time per run (runs > 0)
};

// Runs `engine` on random float inputs (uniform in [-1, 1)) of the given shapes (one for every
// input) `runs` times after a warm-up: the median of the runs, and with `per_layer` the layers'
// times from a second, profiled context (no graph: each kernel between its own pair of events).
// Profiled contexts the caller keeps alive elsewhere meanwhile would add their layers to
// `layers` (profile.h keeps one registry); the builder has none.
Result<EngineTimes> timeEngine(const Engine& engine, const std::map<std::string, Dims>& shapes, int runs,
                               bool per_layer);

}  // namespace qrt::cuda
