// Dispatch from CalibrationAlgo to the algorithm files, and the cache header names.
// (calibrationAlgoName / parseCalibrationAlgo, the CLI names, live with the public API.)
#include "quant/calibration_algorithms.h"

#include <charconv>

#include "core/status_macros.h"

namespace qrt::quant {

const char* cacheAlgorithmName(CalibrationAlgo a) {
  switch (a) {
    case CalibrationAlgo::kEntropy2: return "EntropyCalibration2";
    case CalibrationAlgo::kEntropy: return "EntropyCalibration";
    case CalibrationAlgo::kMinMax: return "MinMaxCalibration";
    case CalibrationAlgo::kPercentile: return "QrtPercentileCalibration";
    case CalibrationAlgo::kMSE: return "QrtMseCalibration";
  }
  return "Unknown";
}

std::string cacheHeaderName(const CalibrationOptions& options) {
  std::string name = cacheAlgorithmName(options.algorithm);
  if (options.algorithm != CalibrationAlgo::kPercentile) return name;
  // The shortest decimal that reads back as the same double: 99.99 -> "99.99", 100 -> "100".
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), options.percentile);
  return name + "-" + std::string(buf, r.ptr);
}

Status validateCalibrationOptions(const CalibrationOptions& options) {
  if (options.algorithm == CalibrationAlgo::kPercentile &&
      !(options.percentile > 0.0 && options.percentile <= 100.0)) {
    return invalidArgument("calibration percentile ", options.percentile,
                           " is outside (0, 100]");
  }
  return Status::Ok();
}

Result<float> computeAmax(const Histogram& histogram, const CalibrationOptions& options) {
  QRT_RETURN_IF_ERROR(validateCalibrationOptions(options));
  const auto counts = histogram.counts();
  const double width = histogram.binWidth();
  switch (options.algorithm) {
    case CalibrationAlgo::kEntropy2:
    case CalibrationAlgo::kEntropy: return entropyAmax(counts, width);
    case CalibrationAlgo::kMinMax: return minMaxAmax(histogram);
    case CalibrationAlgo::kPercentile: return percentileAmax(counts, width, options.percentile);
    case CalibrationAlgo::kMSE: return mseAmax(counts, width);
  }
  return internalError("calibration algorithm ", static_cast<int>(options.algorithm),
                       " has no implementation");
}

}  // namespace qrt::quant
