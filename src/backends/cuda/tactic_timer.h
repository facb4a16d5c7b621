// How the build-time tuners (conv_tactics.cpp, gemm_tactics.cpp) time one candidate: GPU time
// per run of a queued unit of work, measured the way the engine runs it (CUDA-graph replays, no
// host launch gaps).
#pragma once

#include <functional>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/device_context.h"

namespace qrt::cuda {

class TacticTimer {
 public:
  explicit TacticTimer(DeviceContext* dev) : dev_(dev) {}
  ~TacticTimer();
  TacticTimer(const TacticTimer&) = delete;
  TacticTimer& operator=(const TacticTimer&) = delete;

  // `work` queues one run on dev->stream. `per` back-to-back runs are captured in a CUDA graph,
  // the graph replayed 7 times between events, the median divided by `per` (about 0.3 ms of work
  // per replay, 1 to 20 runs). A candidate 10x slower than `best_us` in its warm-up is not timed
  // further (slow candidates would dominate the build time). Without graph capture each run is
  // timed alone.
  Status time(const std::function<Status()>& work, double best_us, double* us, const std::string& who);

 private:
  DeviceContext* dev_;
  cudaEvent_t a_ = nullptr, b_ = nullptr;
};

// A bounded sample of a candidate's output for the tuners' agreement checks (build time stays
// bounded): after syncing dev->stream, the first and the last (at most) 1M of the `n` elements of
// `elem` bytes at device address `d`, as raw bytes, head then tail. False where CUDA fails (the
// error is cleared).
bool sampleOutput(DeviceContext* dev, const void* d, int64_t n, size_t elem, std::vector<uint8_t>* raw);

// The relative L2 difference of two such samples of fp32 or fp16 elements (`half`), `got`
// against `want`; infinity where `got` holds a non-finite value.
double sampledRelativeError(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, bool half);

}  // namespace qrt::cuda
