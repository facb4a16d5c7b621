// Per-layer device times for benchmarks: contexts created while the environment variable
// QRT_CUDA_PROFILE=1 is set (or a ProfilingScope lives) time every CUDA kernel with a pair of CUDA
// events on the run's stream. After the runs completed (synchronize first), collectLayerTimes()
// adds each kernel's elapsed time to its layer's total. CUDA-free interface (bench/gpu/gpu_bench.cpp
// uses it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qrt::cuda {

struct LayerTime {
  std::string layer;   // node name
  std::string op;      // op type
  std::string dtype;   // of the first output
  double total_ms = 0;
  int64_t runs = 0;
};

// Adds the finished runs of every profiled kernel; returns all layers seen so far, in the order
// their kernels were created.
std::vector<LayerTime> collectLayerTimes();
void resetLayerTimes();
// Contexts created while QRT_CUDA_PROFILE=1 is set, or while a ProfilingScope lives, are profiled.
bool profilingEnabled();
// Profiles the contexts created during its life (the builder's per-layer INT8 / FP16 choice times
// whole engines: builder/int8_choice.h), without touching the environment. Nests.
class ProfilingScope {
 public:
  ProfilingScope();
  ~ProfilingScope();
  ProfilingScope(const ProfilingScope&) = delete;
  ProfilingScope& operator=(const ProfilingScope&) = delete;
};

}  // namespace qrt::cuda
