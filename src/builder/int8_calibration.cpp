#include "builder/int8_calibration.h"

#include <cmath>
#include <limits>

#include "core/json_writer.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "passes/fuse_qdq.h"
#include "quant/calibrate.h"
#include "quant/data_calibrators.h"
#include "quant/int8.h"

namespace qrt {

namespace {

// The cache file of qrt's file-backed calibrators ("" for others, whose cache has no name).
std::string cachePathOf(Calibrator& calibrator) {
  auto* file = dynamic_cast<quant::FileCacheCalibrator*>(&calibrator);
  return file ? file->cachePath() : std::string();
}

std::string calibrationJson(const Calibrator& calibrator, const quant::CalibrationOutcome& outcome,
                            const std::string& cache_path) {
  JsonWriter j(0);
  j.beginObject();
  j.key("algorithm").value(calibrationAlgoName(calibrator.algorithm()));
  if (calibrator.algorithm() == CalibrationAlgo::kPercentile) j.key("percentile").value(calibrator.percentile());
  j.key("tensors").value(outcome.scales.size());
  if (outcome.from_cache) {
    j.key("source").value("cache");
    if (!cache_path.empty()) j.key("cache").value(cache_path);
  } else {
    j.key("source").value("calibration");
    j.key("samples").value(outcome.samples);
    j.key("seconds").value(outcome.seconds);
  }
  j.endObject();
  return j.str();
}

}  // namespace

float qdqScaleFromCacheScale(float cache_scale) {
  // qdqScaleFromAmax(scale * 127) would round twice; keep the cache's own bits when usable.
  const bool usable = std::isfinite(cache_scale) && cache_scale >= std::numeric_limits<float>::min();
  return usable ? cache_scale : quant::qdqScaleFromAmax(0.0f);
}

Result<std::map<std::string, float>> int8ActivationScales(const ir::Graph& graph, const BuilderConfig& config,
                                                          std::map<std::string, std::string>* metadata) {
  std::map<std::string, float> scales;
  if (passes::hasQdq(graph)) {
    // TensorRT's rule: a network with Q/DQ is explicitly quantized; no calibrator is consulted.
    logInfo("INT8: the model holds QuantizeLinear/DequantizeLinear nodes: explicit quantization with its own ",
            "scales, no calibration", config.int8Calibrator() ? " (the calibrator is not used)" : "");
    (*metadata)["calibration"] = R"({"source":"explicit"})";
    return scales;
  }
  const std::shared_ptr<Calibrator>& calibrator = config.int8Calibrator();
  if (!calibrator)
    return invalidArgument("--int8 needs calibration data (--calib-dir DIR or --calib-npy NAME=DIR) or an existing "
                           "--calib-cache FILE: the model has no Q/DQ nodes of its own and the builder config has no "
                           "INT8 calibrator");

  quant::CalibrationRunOptions options;
  options.cache_version = config.calibrationCacheVersion();
  options.report_path = config.calibrationReportPath();
  options.progress = config.progress();
  options.device = config.device();  // --device cuda: the passes and histograms run on the GPU
  const std::string cache_path = cachePathOf(*calibrator);
  const std::string cache = cache_path.empty() ? options.cache_name : "calibration cache " + cache_path;
  options.cache_name = cache;  // calibrate() warns, naming it, when the cache does not match
  QRT_ASSIGN_OR_RETURN(quant::CalibrationOutcome outcome, quant::calibrate(graph, *calibrator, options));

  const char* algo = calibrationAlgoName(calibrator->algorithm());
  if (outcome.from_cache) {
    logInfo(cache, " matches: skipped calibration (", outcome.scales.size(), " tensor scales, ", algo, ")");
    if (!options.report_path.empty())
      logWarning("calibration report ", options.report_path,
                 " not written: the scales came from the cache (delete it to calibrate again)");
  } else {
    logInfo("calibrated ", outcome.tensors.size(), " tensors with ", algo, " over ", outcome.samples, " samples in ",
            strCat(std::round(outcome.seconds * 10) / 10), " s",
            options.device == DeviceType::kCUDA ? " on the GPU" : "",
            outcome.batches_cached ? " (data read once, kept in memory for the second pass)" : "");
    if (!cache_path.empty()) logInfo("wrote ", cache);
    if (!options.report_path.empty()) logInfo("wrote calibration report ", options.report_path);
  }
  (*metadata)["calibration"] = calibrationJson(*calibrator, outcome, cache_path);
  for (const auto& [name, s] : outcome.scales) scales[name] = qdqScaleFromCacheScale(s);
  return scales;
}

}  // namespace qrt
