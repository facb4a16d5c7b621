// Command-line options, grouped by phase (model, build, inference, reporting) as trtexec does.
// Each group declares its options with their help text; a subcommand picks the groups it takes,
// and `qrt <cmd> --help` prints them group by group.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt::cli {

struct Option {
  std::string name;     // "--shapes"
  std::string alias;    // "-o" or ""
  std::string metavar;  // "NAME:1x3x224x224" or "" for a flag
  std::string help;
  std::function<Status(const std::string&)> set;
};

struct OptionGroup {
  std::string title;
  std::vector<Option> options;
  void flag(const std::string& name, bool* target, const std::string& help);
  void value(const std::string& name, std::string* target, const std::string& metavar, const std::string& help,
             const std::string& alias = "");
  void intValue(const std::string& name, int* target, const std::string& metavar, const std::string& help);
  void list(const std::string& name, std::vector<std::string>* target, const std::string& metavar,
            const std::string& help);
};

// Parses args against the groups; arguments that are not options go to `positional`.
Status parseArgs(const std::vector<std::string>& args, const std::vector<OptionGroup*>& groups,
                 std::vector<std::string>* positional, bool* help);
std::string usage(const std::string& synopsis, const std::vector<OptionGroup*>& groups);

// The whole string as a finite number (std::nullopt when it is not one: trailing text, inf, nan).
std::optional<double> parseNumber(const std::string& s);

// "1x3x224x224" -> dims.
Result<Dims> parseDims(const std::string& s);
// "name:1x3x224x224,name2:1x10" (possibly repeated) -> map.
Result<std::map<std::string, Dims>> parseShapes(const std::vector<std::string>& specs,
                                                const std::string& flag = "--shapes");

// ---- The groups ----
struct ModelOptions {
  std::vector<std::string> shapes;
  OptionGroup group();
};

struct BuildOptions {
  std::string output;
  bool fp16 = false, bf16 = false, int8 = false;
  std::string device = "cpu";
  std::string timing_cache;
  std::string layer_precisions;       // "name:fp32,name2:bf16,*:fp16" (trtexec's --layerPrecisions)
  std::string precision_constraints;  // none | prefer | obey
  std::string export_layer_info;      // write the built engine's layers as JSON here
  std::vector<std::string> opt_shapes;  // "input:8x3x224x224" (trtexec's --optShapes): timing shapes
  OptionGroup group();
};

struct InferenceOptions {
  std::vector<std::string> inputs;  // name=FILE or FILE
  std::string output_dir;
  int threads = 0;
  OptionGroup group();
};

struct ReportingOptions {
  bool json = false;
  bool verbose = false;
  OptionGroup group();
};

}  // namespace qrt::cli

namespace qrt {
struct PreprocessSpec;
}

namespace qrt::cli {

// Preprocessing of image inputs (eval, calibration): a spec file, and single-field flags that
// override it (see src/data/preprocess.h for the pipeline).
struct PreprocessOptions {
  std::string file, color, resize, scale, mean, std, layout;
  OptionGroup group();
  // Whether any preprocessing flag was given (the spec file included).
  bool any() const;
  // Whether a single-field flag (--color, --resize, ...) was given, which overrides the file.
  bool anyFlag() const;
  // The spec from --preprocess FILE if given, else from `stored_json` (an engine's "preprocess"
  // metadata) if not empty, else the defaults; then the single-field flags override. Errors name
  // the flag or the file.
  Result<PreprocessSpec> resolve(const std::string& stored_json) const;
};

}  // namespace qrt::cli

namespace qrt::cli {

// qrt bench: how long to run, on what inputs, and what to report (trtexec's inference and
// reporting options, in runs rather than milliseconds for the warmup).
struct BenchOptions {
  int batch = 0;             // > 0: the first dim of every input whose first dim is dynamic
  int warmup = 2;            // untimed runs first
  int iterations = 0;        // > 0: exactly this many timed runs
  std::string duration;      // seconds to run for (default 3 when --iterations is not given)
  int threads = 0;           // 0: all cores
  int seed = 1;              // random inputs (see cmd_bench.cpp: the same values as bench/ort/bench_ort.js)
  std::string json;          // write the results here
  std::string save_inputs;   // write the random inputs as DIR/<name>.npy
  bool profile = false;      // per-layer table
  bool cuda_graph = false;   // CUDA engines: replay a captured CUDA graph (ExecutionContext::setCudaGraph)
  OptionGroup group();
  // Checks the combination and returns the duration in seconds (0 when --iterations rules).
  Result<double> durationSeconds() const;
};

}  // namespace qrt::cli

namespace qrt {
struct TensorInfo;
}

namespace qrt::cli {

// INT8 calibration (qrt build --int8): where the data comes from, the algorithm, the cache and
// the report. Image data is preprocessed per the PreprocessOptions group.
struct CalibrationOptions {
  std::string dir;                 // --calib-dir: images, sorted, searched recursively
  std::vector<std::string> npy;    // --calib-npy NAME=DIR_OR_FILE (repeatable)
  std::string algo;                // "" = entropy2
  std::string percentile;          // "" = 99.99
  int batch = 0;                   // 0: the model's fixed batch, else 32
  int max = 0;                     // 0: all; else the first N samples in sorted order
  std::string cache, report, trt_version;
  OptionGroup group();
  // Whether any --calib-* option was given.
  bool any() const;
  // Whether calibration data (not just a cache) was given.
  bool hasData() const { return !dir.empty() || !npy.empty(); }
};

// Fits a preprocessing spec to an image input ([N,C,H,W] or [N,H,W,C] per the spec's layout):
// the channel counts must agree, and the input's H x W sets the resize when the spec has none.
// `what` (a file name) starts the error messages.
Status fitPreprocessToInput(const TensorInfo& input, const std::string& what, PreprocessSpec* spec);

}  // namespace qrt::cli
