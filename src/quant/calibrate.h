// The calibration driver: runs the FP32 graph over a calibrator's batches and derives one
// activation scale per float tensor, or takes the scales from a matching cache.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/builder.h"
#include "qrt/calibrator.h"
#include "quant/calibration_report.h"

namespace qrt::quant {

struct CalibrationRunOptions {
  std::string cache_version = "8601";  // TensorRT version in the cache header
  std::string report_path;             // "" for none
  bool progress = true;                // progress bar on stderr when it is a terminal
  std::string cache_name = "the calibrator's cache";  // names the cache in the warning below
  // kCUDA: the FP32 passes run on a CUDA engine and the ranges and histograms are computed on
  // the GPU (the same bin formula; only the histograms come back to the host).
  DeviceType device = DeviceType::kCPU;
  // Calibration reads the data twice. The batches of the first pass are kept in memory for the
  // second when they fit in this many bytes (decoding and preprocessing images once); otherwise
  // the calibrator is reset and read again. -1: a quarter of the available memory, at most 2 GiB.
  int64_t batch_cache_bytes = -1;
};

struct CalibrationOutcome {
  std::map<std::string, float> scales;   // tensor name -> amax / 127
  bool from_cache = false;
  std::string cache_note;                // why a cache was not used, when one was offered
  std::vector<TensorCalibration> tensors;  // empty when from_cache
  int64_t samples = 0;
  double seconds = 0;
  bool batches_cached = false;           // the second pass replayed the first pass's batches
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
