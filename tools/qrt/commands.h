// The qrt subcommands. Each returns the process exit code and prints its own errors.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "options.h"
#include "qrt/qrt.h"

namespace qrt::cli {

int cmdInspect(const std::vector<std::string>& args);
int cmdBuild(const std::vector<std::string>& args);
int cmdRun(const std::vector<std::string>& args);
int cmdEval(const std::vector<std::string>& args);
int cmdExportQdq(const std::vector<std::string>& args);
int cmdBench(const std::vector<std::string>& args);

// Prints "qrt: error: <status message>" to stderr and returns 1.
int fail(const Status& s);
bool isOnnxPath(const std::string& path);
// Builds the config from the build/model options (shared by build and by run/inspect on .onnx).
Result<BuilderConfig> makeBuilderConfig(const ModelOptions& model, const BuildOptions& build);
// Applies --layer-precisions and --precision-constraints to the config (precision_options.cpp).
Status applyPrecisionOptions(const BuildOptions& build, BuilderConfig* config);
// An engine's layers, I/O and metadata as JSON: `qrt inspect ENGINE --json` and
// `qrt build --export-layer-info FILE` write the same document (cmd_inspect.cpp).
std::string engineJson(const Engine& engine);
// Loads an engine file, or parses and builds an ONNX model on the fly.
Result<std::shared_ptr<Engine>> loadEngine(const std::string& path, const BuilderConfig& config);

}  // namespace qrt::cli
