// qrt public API: INT8 post-training calibration, shaped like TensorRT's IInt8Calibrator.
//
// The builder runs the FP32 network over the calibrator's batches, collects a histogram of |x|
// for every activation, and turns each into a scale with the calibrator's algorithm. Histograms
// do not depend on batch size or order: qrt reads the data twice (first the range of every
// tensor, then exact histograms over that range), calling reset() in between.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

enum class CalibrationAlgo {
  kEntropy2,    // TensorRT's EntropyCalibrator2 (KL divergence; CNNs). Calibrates before fusion.
  kEntropy,     // legacy EntropyCalibrator: the same search after layer fusion
  kMinMax,      // max |x| (NLP models)
  kPercentile,  // a percentile of |x| (default 99.99)
  kMSE,         // the amax minimizing the expected quantization MSE
};
const char* calibrationAlgoName(CalibrationAlgo a);  // "entropy2", "entropy", ...
Result<CalibrationAlgo> parseCalibrationAlgo(const std::string& name);

// One batch of calibration inputs: float32 host tensors by input name.
struct CalibrationBatch {
  struct Tensor {
    Dims dims;
    std::vector<float> data;
  };
  std::map<std::string, Tensor> inputs;
  int64_t samples = 0;  // number of samples in this batch (the batch dim)
};

class Calibrator {
 public:
  virtual ~Calibrator() = default;
  virtual CalibrationAlgo algorithm() const = 0;
  // Fills the next batch (every input, its dims and `samples`: qrt may keep earlier batches and
  // pass an empty one). Returns false when the data has ended.
  virtual Result<bool> getBatch(CalibrationBatch& batch) = 0;
  // Rewinds to the first batch (qrt reads the data twice).
  virtual Status reset() = 0;
  // A previously written cache (TensorRT's text format), or nullopt to calibrate.
  virtual std::optional<std::string> readCache() { return std::nullopt; }
  // Receives the cache after calibration.
  virtual Status writeCache(const std::string& cache) { return Status::Ok(); }
  // Percentile for kPercentile (e.g. 99.99).
  virtual double percentile() const { return 99.99; }
  // Number of samples one pass yields, for progress reports (-1 when unknown).
  virtual int64_t numSamples() const { return -1; }
};

}  // namespace qrt
