#include "options.h"

#include <cmath>
#include <sstream>

#include "core/status_macros.h"
#include "data/preprocess.h"
#include "qrt/network.h"

namespace qrt::cli {

void OptionGroup::flag(const std::string& name, bool* target, const std::string& help) {
  options.push_back({name, "", "", help, [target](const std::string&) { *target = true; return Status::Ok(); }});
}

void OptionGroup::value(const std::string& name, std::string* target, const std::string& metavar,
                        const std::string& help, const std::string& alias) {
  options.push_back({name, alias, metavar, help, [target](const std::string& v) {
                       *target = v;
                       return Status::Ok();
                     }});
}

void OptionGroup::intValue(const std::string& name, int* target, const std::string& metavar,
                           const std::string& help) {
  options.push_back({name, "", metavar, help, [target, name](const std::string& v) {
                       try {
                         size_t used = 0;
                         int x = std::stoi(v, &used);
                         if (used != v.size()) throw std::invalid_argument(v);
                         *target = x;
                       } catch (...) {
                         return invalidArgument(name, " expects an integer, got '", v, "'");
                       }
                       return Status::Ok();
                     }});
}

void OptionGroup::list(const std::string& name, std::vector<std::string>* target, const std::string& metavar,
                       const std::string& help) {
  options.push_back({name, "", metavar, help, [target](const std::string& v) {
                       target->push_back(v);
                       return Status::Ok();
                     }});
}

Status parseArgs(const std::vector<std::string>& args, const std::vector<OptionGroup*>& groups,
                 std::vector<std::string>* positional, bool* help) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      *help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional->push_back(a);
      continue;
    }
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    const Option* opt = nullptr;
    for (OptionGroup* g : groups)
      for (const Option& o : g->options)
        if (o.name == a || (!o.alias.empty() && o.alias == a)) opt = &o;
    if (!opt) return invalidArgument("unknown option '", a, "' (see --help)");
    if (opt->metavar.empty()) {
      if (has_inline) return invalidArgument("option ", a, " takes no value");
      QRT_RETURN_IF_ERROR(opt->set(""));
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) return invalidArgument("option ", a, " needs a value (", opt->metavar, ")");
      inline_value = args[++i];
    }
    QRT_RETURN_IF_ERROR(opt->set(inline_value));
  }
  return Status::Ok();
}

std::string usage(const std::string& synopsis, const std::vector<OptionGroup*>& groups) {
  std::ostringstream os;
  os << "usage: " << synopsis << "\n";
  for (const OptionGroup* g : groups) {
    os << "\n" << g->title << ":\n";
    for (const Option& o : g->options) {
      std::string left = "  " + (o.alias.empty() ? "" : o.alias + ", ") + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
      os << left;
      if (left.size() < 34) os << std::string(34 - left.size(), ' ');
      else os << "\n" << std::string(34, ' ');
      os << o.help << "\n";
    }
  }
  return os.str();
}

std::optional<double> parseNumber(const std::string& s) {
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

Result<Dims> parseDims(const std::string& s) {
  Dims d;
  if (s.empty()) return invalidArgument("empty shape");
  if (s == "scalar") return d;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v < 0) throw std::invalid_argument(part);
      d.push_back(v);
    } catch (...) {
      return invalidArgument("bad shape '", s, "': expected dims like 1x3x224x224");
    }
  }
  return d;
}

Result<std::map<std::string, Dims>> parseShapes(const std::vector<std::string>& specs, const std::string& flag) {
  std::map<std::string, Dims> out;
  for (const std::string& spec : specs) {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      auto colon = item.rfind(':');
      if (colon == std::string::npos || colon == 0)
        return invalidArgument("bad ", flag, " entry '", item, "': expected NAME:1x3x224x224");
      QRT_ASSIGN_OR_RETURN(Dims d, parseDims(item.substr(colon + 1)));
      out[item.substr(0, colon)] = d;
    }
  }
  return out;
}

OptionGroup ModelOptions::group() {
  OptionGroup g{"Model options", {}};
  g.list("--shapes", &shapes, "NAME:DIMS[,...]", "input shapes, e.g. input:1x3x224x224 (fixes dynamic dims)");
  return g;
}

OptionGroup BuildOptions::group() {
  OptionGroup g{"Build options", {}};
  g.value("--output", &output, "FILE", "engine file to write (.qrt)", "-o");
  g.flag("--fp16", &fp16, "allow FP16 kernels");
  g.flag("--bf16", &bf16, "allow BF16 kernels");
  g.flag("--int8", &int8, "allow INT8 kernels");
  g.value("--device", &device, "cpu|cuda", "device the engine runs on (default cpu)");
  g.value("--timing-cache", &timing_cache, "FILE",
          "CUDA: reuse and update the tactic timings in FILE (created when missing)");
  g.value("--layer-precisions", &layer_precisions, "NAME:P,...",
          "per-layer precision (fp32|fp16|bf16), e.g. conv1:fp32,*:fp16 (layer names as qrt inspect lists them)");
  g.value("--precision-constraints", &precision_constraints, "none|prefer|obey",
          "obey: fail when a layer cannot run at its --layer-precisions; prefer: warn and keep fp32 (default none)");
  g.list("--opt-shapes", &opt_shapes, "NAME:DIMS[,...]",
         "shapes to time kernels at for dynamic inputs, e.g. input:8x3x224x224 (the engine stays dynamic)");
  g.value("--export-layer-info", &export_layer_info, "FILE.json",
          "write each layer's precision, backend, reason and tactic timings (as qrt inspect --json)");
  return g;
}

OptionGroup InferenceOptions::group() {
  OptionGroup g{"Inference options", {}};
  g.list("--input", &inputs, "NAME=FILE", "input tensor from .npy or ONNX TensorProto .pb (repeatable)");
  g.value("--output-dir", &output_dir, "DIR", "write each output as DIR/<name>.npy");
  g.intValue("--threads", &threads, "N", "threads (default: all cores)");
  return g;
}

OptionGroup ReportingOptions::group() {
  OptionGroup g{"Reporting options", {}};
  g.flag("--json", &json, "print JSON instead of text");
  g.flag("--verbose", &verbose, "print more detail");
  return g;
}

// ---- Preprocessing ----

OptionGroup PreprocessOptions::group() {
  OptionGroup g{"Preprocessing options", {}};
  g.value("--preprocess", &file, "FILE.json", "preprocessing spec (color, resize, scale, mean, std, layout)");
  g.value("--color", &color, "rgb|bgr|gray", "channel order fed to the model (default rgb)");
  g.value("--resize", &resize, "HxW", "bilinear resize (default: the model input's H x W)");
  g.value("--scale", &scale, "X", "pixel multiplier before mean/std, e.g. 1/255 (default 1/255)");
  g.value("--mean", &mean, "A[,B,C]", "subtracted after scaling, per channel (default 0)");
  g.value("--std", &std, "A[,B,C]", "divides after the mean, per channel (default 1)");
  g.value("--layout", &layout, "nchw|nhwc", "tensor layout (default nchw)");
  return g;
}

bool PreprocessOptions::anyFlag() const {
  return !color.empty() || !resize.empty() || !scale.empty() || !mean.empty() || !std.empty() || !layout.empty();
}

bool PreprocessOptions::any() const { return !file.empty() || anyFlag(); }

namespace {

// "0.5", "1e-3" or a fraction "1/255".
Result<float> parseScalar(const std::string& flag, const std::string& s) {
  auto number = [](const std::string& t, double* v) {
    std::optional<double> x = parseNumber(t);
    if (x) *v = *x;
    return x.has_value();
  };
  double a = 0, b = 1;
  auto slash = s.find('/');
  bool ok = slash == std::string::npos ? number(s, &a) : number(s.substr(0, slash), &a) && number(s.substr(slash + 1), &b);
  if (!ok || b == 0) return invalidArgument(flag, " expects a number or a fraction like 1/255, got '", s, "'");
  return static_cast<float>(a / b);
}

Result<std::vector<float>> parseFloatList(const std::string& flag, const std::string& s) {
  std::vector<float> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    QRT_ASSIGN_OR_RETURN(float v, parseScalar(flag, item));
    out.push_back(v);
  }
  if (out.empty()) return invalidArgument(flag, " expects numbers separated by commas");
  return out;
}

}  // namespace

Result<PreprocessSpec> PreprocessOptions::resolve(const std::string& stored_json) const {
  PreprocessSpec spec;
  if (!file.empty()) {
    QRT_ASSIGN_OR_RETURN(spec, readPreprocessFile(file));
  } else if (!stored_json.empty()) {
    QRT_ASSIGN_OR_RETURN(spec, parsePreprocessJson(stored_json));
  }
  if (!color.empty()) {
    QRT_ASSIGN_OR_RETURN(spec.color, parseColorOrder(color));
  }
  if (!layout.empty()) {
    QRT_ASSIGN_OR_RETURN(spec.layout, parseTensorLayout(layout));
  }
  if (!resize.empty()) QRT_RETURN_IF_ERROR(parseResize(resize, &spec.resize_height, &spec.resize_width));
  if (!scale.empty()) {
    QRT_ASSIGN_OR_RETURN(spec.scale, parseScalar("--scale", scale));
  }
  if (!mean.empty()) {
    QRT_ASSIGN_OR_RETURN(spec.mean, parseFloatList("--mean", mean));
  }
  if (!std.empty()) {
    QRT_ASSIGN_OR_RETURN(spec.std, parseFloatList("--std", std));
  }
  Status s = validatePreprocess(spec);
  if (!s.ok())
    return s.withContext(file.empty() ? "preprocessing" : anyFlag() ? file + " with the preprocessing flags" : file);
  return spec;
}

}  // namespace qrt::cli

// ---- Benchmarking ----

namespace qrt::cli {

OptionGroup BenchOptions::group() {
  OptionGroup g{"Benchmark options", {}};
  g.intValue("--batch", &batch, "N", "first dim of every input whose first dim is dynamic (default 1)");
  g.intValue("--warmup", &warmup, "N", "untimed runs before timing (default 2)");
  g.intValue("--iterations", &iterations, "N", "timed runs (exclusive with --duration)");
  g.value("--duration", &duration, "S", "run for S seconds, at least one run (default 3)");
  g.intValue("--threads", &threads, "N", "threads (default: all cores)");
  g.intValue("--seed", &seed, "N", "seed of the random inputs (default 1)");
  g.value("--json", &json, "FILE", "also write the results as JSON to FILE");
  g.value("--save-inputs", &save_inputs, "DIR", "write the random inputs as DIR/<name>.npy");
  g.flag("--profile", &profile, "per-layer times, sorted by total time (like trtexec --dumpProfile)");
  g.flag("--cuda-graph", &cuda_graph, "CUDA engines: capture the run into a CUDA graph once and replay it");
  return g;
}

Result<double> BenchOptions::durationSeconds() const {
  if (batch < 0) return invalidArgument("--batch must be positive, got ", batch);
  if (warmup < 0) return invalidArgument("--warmup must be 0 or more, got ", warmup);
  if (iterations < 0) return invalidArgument("--iterations must be positive, got ", iterations);
  if (threads < 0) return invalidArgument("--threads must be positive, got ", threads);
  if (iterations > 0 && !duration.empty()) return invalidArgument("give --iterations or --duration, not both");
  if (iterations > 0) return 0.0;
  if (duration.empty()) return 3.0;
  double s = parseNumber(duration).value_or(-1);
  if (!(s > 0)) return invalidArgument("--duration expects seconds > 0, got '", duration, "'");
  return s;
}

}  // namespace qrt::cli

// ---- Calibration ----

namespace qrt::cli {

OptionGroup CalibrationOptions::group() {
  OptionGroup g{"Calibration options (with --int8)", {}};
  g.value("--calib-dir", &dir, "DIR", "calibration images (.jpg/.png, searched recursively, sorted by path)");
  g.list("--calib-npy", &npy, "NAME=DIR|FILE",
         "calibration tensors for input NAME: a folder of .npy (one sample or batch per file) or one .npy (repeatable)");
  g.value("--calib-algo", &algo, "ALGO", "entropy2 (default), entropy, minmax, percentile or mse");
  g.value("--calib-percentile", &percentile, "P", "percentile of |x| for --calib-algo percentile (default 99.99)");
  g.intValue("--calib-batch", &batch, "N", "samples per calibration batch (default: the model's fixed batch, else 32)");
  g.intValue("--calib-max", &max, "N",
             "use the first N samples in sorted order (not spread out like eval's --max, which takes every k-th)");
  g.value("--calib-cache", &cache, "FILE",
          "TensorRT-format scale cache: used when it matches the model and algorithm (no calibration), else written");
  g.value("--calib-report", &report, "FILE.json", "per-tensor histograms, amax and scales as JSON");
  g.value("--calib-cache-trt-version", &trt_version, "N",
          "TensorRT version in the cache header (default 8601 = 8.6.1; TensorRT rejects other versions' caches)");
  return g;
}

bool CalibrationOptions::any() const {
  return hasData() || !algo.empty() || !percentile.empty() || batch != 0 || max != 0 || !cache.empty() ||
         !report.empty() || !trt_version.empty();
}

Status fitPreprocessToInput(const TensorInfo& input, const std::string& what, PreprocessSpec* spec) {
  const Dims& d = input.dims;
  if (input.dtype != DataType::kFloat || d.size() != 4)
    return invalidArgument(what, ": input '", input.name, "' is ", dataTypeName(input.dtype), " ", dimsToString(d),
                           "; images feed a float32 [N,C,H,W] or [N,H,W,C] input");
  const bool nchw = spec->layout == TensorLayout::kNCHW;
  const int64_t c = nchw ? d[1] : d[3], h = nchw ? d[2] : d[1], w = nchw ? d[3] : d[2];
  if (c > 0 && c != spec->channels())
    return invalidArgument(what, ": input '", input.name, "' ", dimsToString(d), " has ", c, " channels (",
                           tensorLayoutName(spec->layout), "), but preprocessing color ", colorOrderName(spec->color),
                           " gives ", spec->channels(), " (set --color or --layout)");
  if (spec->resize_height == 0) {
    if (h <= 0 || w <= 0)
      return invalidArgument(what, ": input '", input.name, "' has dynamic height/width ", dimsToString(d),
                             "; give --resize HxW");
    spec->resize_height = static_cast<int>(h);
    spec->resize_width = static_cast<int>(w);
  } else if ((h > 0 && h != spec->resize_height) || (w > 0 && w != spec->resize_width)) {
    return invalidArgument(what, ": input '", input.name, "' ", dimsToString(d), " does not take images resized to ",
                           spec->resize_height, "x", spec->resize_width);
  }
  return Status::Ok();
}

}  // namespace qrt::cli
