#include "quant/calibration_report.h"

#include <cstdio>
#include <cstring>

#include "core/file_util.h"
#include "core/json_writer.h"
#include "core/status_macros.h"

namespace qrt::quant {

Result<TensorCalibration> calibrateTensor(const std::string& name, Histogram histogram,
                                          const CalibrationOptions& options) {
  auto amax = computeAmax(histogram, options);
  if (!amax.ok()) return amax.status().withContext("tensor '" + name + "'");
  TensorCalibration t;
  t.name = name;
  t.options = options;
  t.histogram = std::move(histogram);
  t.amax = *amax;
  t.scale = scaleFromAmax(t.amax);
  return t;
}

std::string formatCalibrationReport(const std::vector<TensorCalibration>& tensors) {
  JsonWriter json;
  json.beginObject();
  json.key("format").value("qrt-calibration-report");
  json.key("version").value(1);
  json.key("tensors").beginArray();
  for (const auto& t : tensors) {
    uint32_t bits;
    std::memcpy(&bits, &t.scale, sizeof(bits));
    char hex[16];
    std::snprintf(hex, sizeof(hex), "%x", static_cast<unsigned>(bits));
    const Histogram& h = t.histogram;
    json.beginObject();
    json.key("name").value(t.name);
    json.key("algorithm").value(calibrationAlgoName(t.options.algorithm));
    if (t.options.algorithm == CalibrationAlgo::kPercentile) json.key("percentile").value(t.options.percentile);
    json.key("range_max").value(h.rangeMax());
    json.key("bin_width").value(h.binWidth());
    json.key("count").value(static_cast<int64_t>(h.total()));
    json.key("non_finite").value(static_cast<int64_t>(h.nonFiniteCount()));
    json.key("amax").value(t.amax);
    json.key("scale").value(t.scale);
    json.key("scale_bits").value(hex);
    const auto counts = h.counts();
    json.key("histogram").array(std::vector<uint64_t>(counts.begin(), counts.end()));
    json.endObject();
  }
  json.endArray();
  json.endObject();
  return json.str() + "\n";
}

Status writeCalibrationReport(const std::string& path, const std::vector<TensorCalibration>& tensors) {
  const std::string text = formatCalibrationReport(tensors);
  return writeFileAtomic(path, text.data(), text.size());
}

}  // namespace qrt::quant
