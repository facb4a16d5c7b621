// TensorRT's INT8 calibration cache, byte for byte:
//
//   TRT-8601-EntropyCalibration2\n
//   <tensor name>: <scale as the hex bits of an IEEE-754 float32, lowercase, no leading zeros>\n
//   ...
//
// The version is TensorRT's getInferLibVersion(): major*1000 + minor*100 + patch up to 8.x
// (8401, 8501, 8601, 8602 seen in published caches), major*10000 + minor*100 + patch from 10.x
// (100300, 101303). The scale is amax / 127. Hex digits are not zero-padded: TensorRT writes an
// all-zero tensor's scale as "0". Tensor names may contain ':' (TensorFlow's "conv:0", PyTorch's
// "onnx::MatMul_12"), so a line splits at its last ": ".
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "qrt/calibrator.h"
#include "qrt/status.h"

namespace qrt::quant {

struct TensorCalibration;  // calibration_report.h

// TensorRT 8.6.1 (the 8.6 GA release) writes "TRT-8601-...".
inline constexpr const char* kDefaultTensorRTVersion = "8601";

struct CalibrationCache {
  std::string version = kDefaultTensorRTVersion;  // digits, e.g. "8601"
  std::string algorithm;                          // e.g. "EntropyCalibration2"
  std::vector<std::pair<std::string, float>> scales;  // in file order
};

// Parses a cache. Errors name source_name and the line: missing or malformed header, a line
// without ": ", an empty tensor name, a scale that is not 1 to 8 hex digits, a tensor listed
// twice. Tolerates "\r\n" line ends and blank lines. Scales are taken as written (TensorRT
// writes 0 for all-zero tensors and 7f800000, infinity, for tensors holding inf).
Result<CalibrationCache> parseCalibrationCache(const std::string& text, const std::string& source_name);
// The cache text exactly as TensorRT writes it (every line ends in "\n"). Tensor names must be
// non-empty and free of line breaks (writeCalibrationCache checks).
std::string formatCalibrationCache(const CalibrationCache& cache);

Result<CalibrationCache> readCalibrationCache(const std::string& path);
// Writes atomically (a failed write leaves any previous file intact).
Status writeCalibrationCache(const std::string& path, const CalibrationCache& cache);

// Whether a cache can stand in for calibrating this model with this algorithm (a header name
// such as "EntropyCalibration2"). The version is not compared: qrt's thresholds do not depend on
// it. The error says every reason: the algorithm differs, model tensors are missing from the
// cache, the cache names tensors the model does not have (a few names of each), unless
// allow_unknown_tensors (TensorRT's own caches also list its internal tensors, e.g.
// "(Unnamed Layer* 8) [Constant]_output").
Status checkCacheMatches(const CalibrationCache& cache, const std::string& expected_algorithm,
                         const std::vector<std::string>& tensor_names,
                         bool allow_unknown_tensors = false);

// The cache of a finished calibration: header name of `algorithm`, scale = amax / 127 per
// tensor, in the given order.
CalibrationCache cacheFromCalibration(const std::vector<TensorCalibration>& tensors,
                                      CalibrationAlgo algorithm,
                                      const std::string& version = kDefaultTensorRTVersion);

}  // namespace qrt::quant
