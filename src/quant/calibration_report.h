// The calibration of each tensor and the JSON report that lets anyone recompute it: per tensor
// the algorithm, the histogram of |x| (2048 counts), its bin width, amax and the scale.
//
// {"format": "qrt-calibration-report", "version": 1, "tensors": [
//   {"name": "conv1", "algorithm": "entropy2", "range_max": 6.1, "bin_width": 0.00297,
//    "count": 802816, "non_finite": 0, "amax": 3.9, "scale": 0.0307, "scale_bits": "3cfb7e3c",
//    "histogram": [..2048 counts..]}, ...]}
// "percentile" is added for the percentile algorithm. Numbers are printed with 9 significant
// digits, which round-trips every float32 (range_max, bin_width, amax, scale).
#pragma once

#include <string>
#include <vector>

#include "qrt/status.h"
#include "quant/calibration_algorithms.h"
#include "quant/histogram.h"

namespace qrt::quant {

struct TensorCalibration {
  std::string name;
  CalibrationOptions options;
  Histogram histogram;
  float amax = 0.0f;
  float scale = 0.0f;  // scaleFromAmax(amax): what the TensorRT cache holds
};

// Runs the algorithm on one tensor's histogram.
Result<TensorCalibration> calibrateTensor(const std::string& name, Histogram histogram,
                                          const CalibrationOptions& options);

std::string formatCalibrationReport(const std::vector<TensorCalibration>& tensors);
Status writeCalibrationReport(const std::string& path, const std::vector<TensorCalibration>& tensors);

}  // namespace qrt::quant
