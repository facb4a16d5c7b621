// qrt public API: building an engine from a network.
//
// Flags only say which precisions the builder may choose; the engine records what it chose, per
// layer (see Engine::layers()).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "qrt/calibrator.h"
#include "qrt/engine.h"
#include "qrt/network.h"
#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

enum class BuilderFlag : uint32_t {
  kFP16 = 1u << 0,
  kBF16 = 1u << 1,
  kINT8 = 1u << 2,
  // Layer precisions (BuilderConfig::setLayerPrecision) are constraints: obey fails the build
  // when a layer cannot run at its precision; prefer warns and keeps FP32 for it. With neither,
  // they only allow that precision and the builder still picks the fastest kernel.
  kOBEY_PRECISION_CONSTRAINTS = 1u << 3,
  // CUDA: FP32 convolutions and matrix products may use TF32 tensor cores (10-bit mantissa).
  kTF32 = 1u << 4,
  kPREFER_PRECISION_CONSTRAINTS = 1u << 5,
};

enum class DeviceType { kCPU, kCUDA };

class BuilderConfig {
 public:
  void setFlag(BuilderFlag f) { flags_ |= static_cast<uint32_t>(f); }
  void clearFlag(BuilderFlag f) { flags_ &= ~static_cast<uint32_t>(f); }
  bool getFlag(BuilderFlag f) const { return (flags_ & static_cast<uint32_t>(f)) != 0; }

  // Fixes the shape of an input at build time (dynamic dims become these). Inputs not named keep
  // the model's declared shape; their dynamic dims are set per execution context.
  void setInputShape(const std::string& name, const Dims& dims) { input_shapes_[name] = dims; }
  const std::map<std::string, Dims>& inputShapes() const { return input_shapes_; }

  // The shape an input with dynamic dims is expected to run at most (TensorRT's optimization
  // profile opt shape, trtexec's --optShapes): the builder times candidate kernels there instead
  // of at dynamic dims of 1. The engine stays dynamic; the shape is recorded in its "opt_shapes"
  // metadata. Each dim must be positive and equal every static dim of the input.
  void setOptShape(const std::string& name, const Dims& dims) { opt_shapes_[name] = dims; }
  const std::map<std::string, Dims>& optShapes() const { return opt_shapes_; }

  // The precision a layer (a name as `qrt inspect ENGINE` lists it; "*" for every layer with
  // floating-point values) should run in; a named layer's setting wins over "*". Enforced with
  // kOBEY_PRECISION_CONSTRAINTS or kPREFER_PRECISION_CONSTRAINTS (see docs/precision.md).
  void setLayerPrecision(const std::string& name, Precision p) { layer_precisions_[name] = p; }
  const std::map<std::string, Precision>& layerPrecisions() const { return layer_precisions_; }

  // Timed runs per candidate kernel when the builder chooses between precisions (the median
  // counts); 0 skips timing and keeps the first allowed low-precision kernel, and on a GPU the
  // convolutions and matrix products keep cuDNN's and cuBLASLt's heuristic plans (no tactic
  // timing: a fast build, slower kernels).
  void setTimingRuns(int n) { timing_runs_ = n; }
  int timingRuns() const { return timing_runs_; }

  void setDevice(DeviceType d) { device_ = d; }
  DeviceType device() const { return device_; }

  // CUDA: a timing cache file (layer signature -> the tactic chosen and its time), read when the
  // build starts and written back, merged, at its end; layers found there are not timed again.
  void setTimingCachePath(const std::string& path) { timing_cache_ = path; }
  const std::string& timingCachePath() const { return timing_cache_; }

  // INT8 calibration (used with kINT8 when the network has no Q/DQ of its own).
  void setInt8Calibrator(std::shared_ptr<Calibrator> c) { calibrator_ = std::move(c); }
  const std::shared_ptr<Calibrator>& int8Calibrator() const { return calibrator_; }
  // Writes a JSON report of every calibrated tensor (histogram, amax, scale) here.
  void setCalibrationReportPath(const std::string& path) { calib_report_ = path; }
  const std::string& calibrationReportPath() const { return calib_report_; }
  // The TensorRT version written into the cache header (e.g. "8601" for 8.6.1).
  void setCalibrationCacheVersion(const std::string& v) { calib_version_ = v; }
  const std::string& calibrationCacheVersion() const { return calib_version_; }
  // Shows a progress bar on stderr while calibrating when stderr is a terminal.
  void setProgress(bool on) { progress_ = on; }
  bool progress() const { return progress_; }

  // Free-form key/value metadata stored in the engine (e.g. "preprocess" JSON).
  void setMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  uint32_t flags_ = 0;
  DeviceType device_ = DeviceType::kCPU;
  std::string timing_cache_;
  std::map<std::string, Dims> input_shapes_;
  std::map<std::string, Dims> opt_shapes_;
  std::map<std::string, Precision> layer_precisions_;
  int timing_runs_ = 5;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<Calibrator> calibrator_;
  std::string calib_report_;
  std::string calib_version_ = "8601";
  bool progress_ = true;
};

// Optimizes the network and builds an engine. The network is not modified.
Result<std::shared_ptr<Engine>> buildEngine(const Network& network, const BuilderConfig& config);

}  // namespace qrt
