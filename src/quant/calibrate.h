// The calibration driver: runs the FP32 graph over a calibrator's batches and derives one
// activation scale per float tensor, or takes the scales from a matching cache.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/calibrator.h"
#include "quant/calibration_report.h"

namespace qrt::quant {

struct CalibrationRunOptions {
  std::string cache_version = "8601";  // TensorRT version in the cache header
  std::string report_path;             // "" for none
  bool progress = true;                // progress bar on stderr when it is a terminal
  std::string cache_name = "the calibrator's cache";  // names the cache in the warning below
};

struct CalibrationOutcome {
  std::map<std::string, float> scales;   // tensor name -> amax / 127
  bool from_cache = false;
  std::string cache_note;                // why a cache was not used, when one was offered
  std::vector<TensorCalibration> tensors;  // empty when from_cache
  int64_t samples = 0;
  double seconds = 0;
};

// The names of the tensors calibration covers: float graph inputs and float outputs of the
// nodes that run per batch (not constants, not shape computations), in graph order.
std::vector<std::string> calibratedTensorNames(const ir::Graph& graph);

// `graph` is the optimized FP32 graph (after the default passes). Reads the calibrator's cache
// first; a cache that does not match (algorithm, tensor names) is not used: a warning saying why
// is logged before calibration starts (it may then fail for want of data), and the reason is
// returned in cache_note.
Result<CalibrationOutcome> calibrate(const ir::Graph& graph, Calibrator& calibrator,
                                     const CalibrationRunOptions& options);

}  // namespace qrt::quant
