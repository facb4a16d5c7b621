#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "core/file_util.h"
#include "core/status_macros.h"
#include "data/preprocess.h"
#include "quant/data_calibrators.h"

namespace qrt::cli {

namespace {

constexpr const char kSynopsis[] =
    "qrt build MODEL.onnx -o ENGINE.qrt [options]\n"
    "       qrt build MODEL.onnx -o ENGINE.qrt --int8 --calib-dir DIR [calibration options] [preprocessing options]\n\n"
    "INT8: a model without Q/DQ nodes is calibrated on --calib-dir images (or --calib-npy tensors): the FP32\n"
    "graph runs over the data twice (ranges, then histograms), the algorithm picks a threshold per tensor, and\n"
    "Q/DQ nodes carry the scales. With --calib-cache FILE, a cache that matches the model and algorithm is used\n"
    "instead (no calibration); otherwise the new scales are written to it. --calib-max N takes the first N files\n"
    "in sorted order, so give a folder that mixes every class (qrt eval --max instead takes every k-th image).\n"
    "A model with Q/DQ nodes of its own is built with its scales (explicit quantization, no calibration).\n"
    "Preprocessing given here (or used for calibration) is stored in the engine as \"preprocess\" metadata,\n"
    "which qrt eval and qrt run --image reuse.\n\n"
    "Precision (docs/precision.md): --fp16/--bf16 allow those precisions; the builder times the allowed kernels\n"
    "per layer and keeps the fastest (a CPU without FP16/BF16 arithmetic keeps fp32, and qrt inspect says why).\n"
    "--layer-precisions NAME:P,*:P with --precision-constraints obey|prefer pins layers (fp16 runs on the\n"
    "reference backend with exact per-op fp16 rounding: check FP16 accuracy with qrt eval on any CPU).";

// toJson's spec on one line, for the log.
std::string oneLine(const std::string& json) {
  std::string out;
  bool space = false;
  for (char c : json) {
    if (c == '\n' || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty() && out.back() != '{' && out.back() != '[' && c != '}' && c != ']') out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Checks the combinations that need no model, so mistakes surface before a long build.
Status checkArgs(const std::vector<std::string>& pos, const BuildOptions& build, const CalibrationOptions& calib) {
  if (pos.size() != 1) return invalidArgument("build takes one MODEL.onnx (got ", pos.size(), ")");
  if (build.output.empty()) return invalidArgument("build needs -o ENGINE.qrt");
  if (calib.any() && !build.int8) return invalidArgument("the --calib-* options need --int8");
  if (!calib.dir.empty() && !calib.npy.empty()) return invalidArgument("give --calib-dir or --calib-npy, not both");
  if (calib.batch < 0 || calib.max < 0) return invalidArgument("--calib-batch and --calib-max must be positive");
  if (!calib.trt_version.empty() && calib.trt_version.find_first_not_of("0123456789") != std::string::npos)
    return invalidArgument("--calib-cache-trt-version expects digits such as 8601 (TensorRT 8.6.1), got '",
                           calib.trt_version, "'");
  std::error_code ec;
  if (build.int8 && !calib.hasData() && !calib.cache.empty() && !std::filesystem::exists(calib.cache, ec))
    return notFound("--calib-cache ", calib.cache, " does not exist, and no calibration data was given ",
                    "(--calib-dir DIR or --calib-npy NAME=DIR)");
  return Status::Ok();
}

Result<quant::DataCalibratorOptions> calibratorOptions(const CalibrationOptions& calib) {
  quant::DataCalibratorOptions o;
  if (!calib.algo.empty()) {
    QRT_ASSIGN_OR_RETURN(o.algo, parseCalibrationAlgo(calib.algo));
  }
  if (!calib.percentile.empty()) {
    if (o.algo != CalibrationAlgo::kPercentile) return invalidArgument("--calib-percentile needs --calib-algo percentile");
    o.percentile = parseNumber(calib.percentile).value_or(-1);
    if (!(o.percentile > 0 && o.percentile <= 100))
      return invalidArgument("--calib-percentile expects a number in (0, 100], got '", calib.percentile, "'");
  }
  o.max_samples = calib.max;
  o.cache_path = calib.cache;
  return o;
}

// The calibration batch: the model's batch dim when it is fixed (--calib-batch must agree), else
// --calib-batch, else 32.
Result<int> calibrationBatch(const Network& network, const BuilderConfig& config, int requested) {
  int fixed = 0;
  for (TensorInfo in : network.inputs()) {
    auto shape = config.inputShapes().find(in.name);
    if (shape != config.inputShapes().end()) in.dims = shape->second;
    if (in.dims.empty() || in.dims[0] <= 0) continue;
    if (fixed > 0 && fixed != in.dims[0])
      return invalidArgument("the model's inputs have different fixed batch sizes (", fixed, " and ", in.dims[0], ")");
    fixed = static_cast<int>(in.dims[0]);
  }
  if (fixed > 0 && requested > 0 && requested != fixed)
    return invalidArgument("--calib-batch ", requested, ": the model's batch is fixed at ", fixed);
  return fixed > 0 ? fixed : requested > 0 ? requested : 32;
}

// The single image input an image folder feeds (its shape as the build fixes it).
Result<TensorInfo> imageInput(const Network& network, const BuilderConfig& config, const std::string& model) {
  auto inputs = network.inputs();
  if (inputs.size() != 1)
    return invalidArgument(model, ": images feed a model with one input, but it has ", inputs.size(),
                           " (use --calib-npy NAME=DIR for each)");
  TensorInfo in = inputs[0];
  auto shape = config.inputShapes().find(in.name);
  if (shape != config.inputShapes().end()) in.dims = shape->second;
  return in;
}

// Sets the calibrator (when calibrating) and the "preprocess" metadata on the config.
Status configureCalibration(const Network& network, const std::string& model, const CalibrationOptions& calib,
                            quant::DataCalibratorOptions o, const PreprocessOptions& prep, BuilderConfig* config) {
  const bool images = !calib.dir.empty();
  if (prep.any() || images) {
    QRT_ASSIGN_OR_RETURN(PreprocessSpec spec, prep.resolve(""));
    QRT_ASSIGN_OR_RETURN(TensorInfo input, imageInput(network, *config, model));
    QRT_RETURN_IF_ERROR(fitPreprocessToInput(input, model, &spec));
    config->setMetadata("preprocess", toJson(spec));
    if (images) {
      QRT_ASSIGN_OR_RETURN(o.batch_size, calibrationBatch(network, *config, calib.batch));
      QRT_ASSIGN_OR_RETURN(auto c, quant::ImageFolderCalibrator::create(calib.dir, input.name, spec, o));
      std::fprintf(stderr, "qrt: calibration data: %zu images from %s, batch %d, preprocess %s\n", c->numImages(),
                   calib.dir.c_str(), o.batch_size, oneLine(toJson(spec)).c_str());
      config->setInt8Calibrator(std::move(c));
    }
  }
  if (!config->getFlag(BuilderFlag::kINT8) || images) return Status::Ok();
  if (!calib.npy.empty()) {
    std::vector<std::pair<std::string, std::string>> sources;
    for (const std::string& spec : calib.npy) {
      auto eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        return invalidArgument("--calib-npy '", spec, "': expected NAME=DIR or NAME=FILE.npy");
      sources.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
    }
    std::map<std::string, size_t> ranks;
    for (const TensorInfo& in : network.inputs()) ranks[in.name] = in.dims.size();
    QRT_ASSIGN_OR_RETURN(o.batch_size, calibrationBatch(network, *config, calib.batch));
    QRT_ASSIGN_OR_RETURN(auto c, quant::NpyCalibrator::create(sources, ranks, o));
    config->setInt8Calibrator(std::move(c));
  } else if (!calib.cache.empty()) {
    config->setInt8Calibrator(std::make_shared<quant::CacheOnlyCalibrator>(o));
  }
  // No data and no cache: the builder decides (fine for a model with Q/DQ of its own).
  return Status::Ok();
}

}  // namespace

int cmdBuild(const std::vector<std::string>& args) {
  ModelOptions model;
  BuildOptions build;
  CalibrationOptions calib;
  PreprocessOptions prep;
  ReportingOptions report;
  OptionGroup gm = model.group(), gb = build.group(), gc = calib.group(), gp = prep.group(), gr = report.group();
  std::vector<OptionGroup*> groups = {&gm, &gb, &gc, &gp, &gr};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage(kSynopsis, groups).c_str());
    return 0;
  }
  if (Status s = checkArgs(pos, build, calib); !s.ok()) return fail(s);
  auto calib_options = calibratorOptions(calib);
  if (!calib_options.ok()) return fail(calib_options.status());
  // Build notes (calibration, cache use, Q/DQ placement) are worth seeing on the command line.
  setLogSeverity(report.verbose ? LogSeverity::kVerbose : LogSeverity::kInfo);
  auto config = makeBuilderConfig(model, build);
  if (!config.ok()) return fail(config.status());
  if (!calib.report.empty()) config->setCalibrationReportPath(calib.report);
  if (!calib.trt_version.empty()) config->setCalibrationCacheVersion(calib.trt_version);
  auto t0 = std::chrono::steady_clock::now();
  auto network = parseOnnxFile(pos[0]);
  if (!network.ok()) return fail(network.status());
  if (Status s = configureCalibration(**network, pos[0], calib, *calib_options, prep, &*config); !s.ok()) return fail(s);
  auto engine = buildEngine(**network, *config);
  if (!engine.ok()) return fail(engine.status());
  if (Status s = (*engine)->save(build.output); !s.ok()) return fail(s);
  if (!build.export_layer_info.empty()) {
    std::string json = engineJson(**engine);
    if (Status s = writeFileAtomic(build.export_layer_info, json.data(), json.size()); !s.ok()) return fail(s);
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t layers = (*engine)->layers().size();
  std::printf("built %s: %zu layers, %s, in %.1f ms\n", build.output.c_str(), layers,
              (*engine)->metadata("builder_flags").c_str(), ms);
  // --device cuda --int8 --fp16: which layers run INT8 and which FP16 (builder/int8_choice.h).
  if (const std::string choice = (*engine)->metadata("int8_choice"); !choice.empty())
    std::printf("INT8 per layer: %s\n", choice.c_str());
  return 0;
}

}  // namespace qrt::cli
