// INT8 calibration statistics computed on the GPU: per tensor the max |x| (pass 1) and the
// histogram of |x| (pass 2) of activations that live in device memory, so that only the small
// results cross to the host. The bin formula is the CPU's (quant::Histogram), float for float:
// bin = floor(|x| * bins_per_unit) in float32, clamped to the last bin, non-finite values in a slot
// of their own; the same values give the same counts. CUDA-free header (quant/calibrate.cpp uses
// it when QRT_HAVE_CUDA is defined).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "qrt/status.h"

namespace qrt::cuda {

class CalibrationStats {
 public:
  // Zeroed device counters for `tensors` tensors of `bins` bins each.
  static Result<std::unique_ptr<CalibrationStats>> create(size_t tensors, int bins);
  ~CalibrationStats();
  CalibrationStats(const CalibrationStats&) = delete;
  CalibrationStats& operator=(const CalibrationStats&) = delete;

  // Pass 1: folds max |x| over the finite values among n floats at device address x into the
  // tensor's maximum. Queued on `stream` (a cudaStream_t), after the kernel that wrote x.
  Status addRange(size_t tensor, const float* x, int64_t n, void* stream);
  // max |x| of every tensor (0 when it had no finite value); waits for `stream`.
  Result<std::vector<float>> ranges(void* stream);

  // Pass 2: counts |x| of n floats into the tensor's bins with the factor bins_per_unit
  // (quant::Histogram::binsPerUnit of the tensor's range). Queued on `stream`.
  Status addHistogram(size_t tensor, const float* x, int64_t n, float bins_per_unit, void* stream);
  // The counts of every tensor: bins + 1 values, the last one the non-finite values; waits.
  Result<std::vector<std::vector<uint64_t>>> histograms(void* stream);

 private:
  CalibrationStats() = default;
  size_t tensors_ = 0;
  int bins_ = 0;
  std::shared_ptr<void> max_bits_;  // uint32 per tensor: the bits of max |x| (finite values)
  std::shared_ptr<void> counts_;    // uint64 per tensor and slot: tensors * (bins + 1)
};

}  // namespace qrt::cuda
