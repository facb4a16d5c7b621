// CUDA-free CUDA events for tools that time CUDA engines on the GPU's clock (qrt bench): pairs
// of events recorded on a stream around each run, read once the stream has finished. Compiled
// only with the CUDA backend (QRT_HAVE_CUDA), like device_memory.h.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "qrt/status.h"

namespace qrt::cuda {

class EventTimer {
 public:
  // `pairs` start/stop event pairs (one per run timed between two synchronizations).
  static Result<std::unique_ptr<EventTimer>> create(size_t pairs);
  ~EventTimer();
  size_t pairs() const { return start_.size(); }
  // Records pair i's start / stop event on `stream` (a cudaStream_t as void*; null: the legacy stream).
  Status start(size_t i, void* stream);
  Status stop(size_t i, void* stream);
  // Milliseconds between pair i's events; both must have completed (synchronize the stream first).
  Result<float> elapsedMs(size_t i) const;

 private:
  EventTimer() = default;
  std::vector<void*> start_, stop_;
};

}  // namespace qrt::cuda
