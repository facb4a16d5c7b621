#include <cstdio>

#include "commands.h"
#include "core/status_macros.h"

namespace qrt::cli {

int fail(const Status& s) {
  std::fprintf(stderr, "qrt: error: %s\n", s.message().c_str());
  return 1;
}

bool isOnnxPath(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

Result<BuilderConfig> makeBuilderConfig(const ModelOptions& model, const BuildOptions& build) {
  BuilderConfig config;
  QRT_ASSIGN_OR_RETURN(auto shapes, parseShapes(model.shapes));
  for (const auto& [name, dims] : shapes) config.setInputShape(name, dims);
  QRT_ASSIGN_OR_RETURN(auto opt_shapes, parseShapes(build.opt_shapes, "--opt-shapes"));
  for (const auto& [name, dims] : opt_shapes) config.setOptShape(name, dims);
  if (build.fp16) config.setFlag(BuilderFlag::kFP16);
  if (build.bf16) config.setFlag(BuilderFlag::kBF16);
  if (build.int8) config.setFlag(BuilderFlag::kINT8);
  if (build.device == "cuda") config.setDevice(DeviceType::kCUDA);
  else if (build.device != "cpu") return invalidArgument("--device must be cpu or cuda, got '", build.device, "'");
  QRT_RETURN_IF_ERROR(applyPrecisionOptions(build, &config));
  if (!build.timing_cache.empty()) {
    if (build.device != "cuda") return invalidArgument("--timing-cache needs --device cuda");
    config.setTimingCachePath(build.timing_cache);
  }
  return config;
}

Result<std::shared_ptr<Engine>> loadEngine(const std::string& path, const BuilderConfig& config) {
  if (!isOnnxPath(path)) return Engine::load(path);
  QRT_ASSIGN_OR_RETURN(auto network, parseOnnxFile(path));
  return buildEngine(*network, config);
}

}  // namespace qrt::cli
