#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "commands.h"
#include "device_io.h"
#include "core/status_macros.h"
#include "core/threadpool.h"
#include "data/image.h"
#include "data/preprocess.h"
#include "data/tensor_file.h"

namespace qrt::cli {

namespace {

std::string sanitize(const std::string& name) {
  std::string s = name;
  for (char& c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return s.empty() ? "_" : s;
}

// Maps --input specs to engine inputs: "name=FILE", or a bare FILE for a single-input model.
Result<std::map<std::string, HostTensor>> loadInputs(const std::vector<std::string>& specs, const Engine& engine) {
  std::map<std::string, HostTensor> out;
  auto inputs = engine.inputs();
  for (const std::string& spec : specs) {
    std::string name, file;
    auto eq = spec.find('=');
    if (eq == std::string::npos) {
      if (inputs.size() != 1)
        return invalidArgument("--input '", spec, "' needs NAME=FILE: the model has ", inputs.size(), " inputs");
      name = inputs[0].name;
      file = spec;
    } else {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    }
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const TensorInfo& t) { return t.name == name; });
    if (it == inputs.end()) {
      std::string names;
      for (const auto& t : inputs) names += (names.empty() ? "" : ", ") + t.name;
      return notFound("--input names '", name, "', but the model's inputs are: ", names);
    }
    QRT_ASSIGN_OR_RETURN(HostTensor t, readTensorFile(file));
    if (t.dtype() != it->dtype)
      return invalidArgument("input '", name, "' expects ", dataTypeName(it->dtype), ", but ", file, " holds ",
                             dataTypeName(t.dtype()));
    out[name] = std::move(t);
  }
  for (const auto& t : inputs)
    if (!out.count(t.name)) return invalidArgument("no --input given for model input '", t.name, "'");
  return out;
}

// --image FILE: decoded and preprocessed (the engine's "preprocess" metadata, overridden by the
// flags) into the engine's single image input, batch 1.
Result<std::map<std::string, HostTensor>> loadImageInput(const std::string& path, const PreprocessOptions& prep,
                                                         const Engine& engine, const std::string& engine_path) {
  auto inputs = engine.inputs();
  if (inputs.size() != 1)
    return invalidArgument("--image feeds a model with one input, but ", engine_path, " has ", inputs.size());
  std::string stored = engine.metadata("preprocess");
  if (!prep.any() && stored.empty())
    return invalidArgument(engine_path, " has no \"preprocess\" metadata: give --preprocess FILE.json (or --color, ",
                           "--resize, --scale, --mean, --std, --layout)");
  QRT_ASSIGN_OR_RETURN(PreprocessSpec spec, prep.resolve(stored));
  QRT_RETURN_IF_ERROR(fitPreprocessToInput(inputs[0], engine_path, &spec));
  QRT_ASSIGN_OR_RETURN(Image image, readImage(path));
  const int64_t h = spec.resize_height, w = spec.resize_width, c = spec.channels();
  Dims dims = spec.layout == TensorLayout::kNCHW ? Dims{1, c, h, w} : Dims{1, h, w, c};
  HostTensor t(DataType::kFloat, dims);
  QRT_RETURN_IF_ERROR(preprocess(image, spec, t.as<float>()));
  std::map<std::string, HostTensor> out;
  out[inputs[0].name] = std::move(t);
  return out;
}

void printSummary(const std::string& name, const HostTensor& t) {
  std::printf("output %s: %s %s", name.c_str(), dataTypeName(t.dtype()), dimsToString(t.dims()).c_str());
  int64_t n = t.numel();
  if (n == 0) {
    std::printf("\n");
    return;
  }
  double mn = INFINITY, mx = -INFINITY, sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v = t.getDouble(i);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    sum += v;
  }
  std::printf("  min %.6g  max %.6g  mean %.6g\n", mn, mx, sum / static_cast<double>(n));
  // A classifier's scores: [N, C] (or [C]) with C > 1: show the top-5 per sample.
  const Dims& d = t.dims();
  bool classifier = (d.size() == 2 || d.size() == 1) && d.back() > 1 &&
                    (t.dtype() == DataType::kFloat || t.dtype() == DataType::kHalf || t.dtype() == DataType::kDouble);
  if (!classifier) return;
  int64_t classes = d.back(), rows = d.size() == 2 ? d[0] : 1;
  for (int64_t r = 0; r < std::min<int64_t>(rows, 8); ++r) {
    std::vector<int64_t> idx(classes);
    std::iota(idx.begin(), idx.end(), 0);
    int64_t k = std::min<int64_t>(5, classes);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int64_t a, int64_t b) { return t.getDouble(r * classes + a) > t.getDouble(r * classes + b); });
    std::printf("  sample %lld top-%lld:", static_cast<long long>(r), static_cast<long long>(k));
    for (int64_t i = 0; i < k; ++i)
      std::printf(" %lld (%.4g)", static_cast<long long>(idx[i]), t.getDouble(r * classes + idx[i]));
    std::printf("\n");
  }
  if (rows > 8) std::printf("  ... %lld more samples\n", static_cast<long long>(rows - 8));
}

}  // namespace

int cmdRun(const std::vector<std::string>& args) {
  ModelOptions model;
  BuildOptions build;
  InferenceOptions infer;
  ReportingOptions report;
  PreprocessOptions prep;
  std::string image;
  OptionGroup gm = model.group(), gi = infer.group(), gr = report.group(), gp = prep.group();
  gi.value("--image", &image, "FILE", "an image for the single image input, batch 1 (instead of --input)");
  std::vector<OptionGroup*> groups = {&gm, &gi, &gp, &gr};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt run MODEL.onnx|ENGINE.qrt --input NAME=FILE.npy ... [--output-dir DIR]\n"
                            "       qrt run ENGINE.qrt --image FILE.jpg|png [preprocessing options]\n\n"
                            "--image preprocesses per the engine's \"preprocess\" metadata (stored by qrt build),\n"
                            "overridden by the preprocessing flags; the input's H x W sets the resize when none is given.",
                            groups)
                          .c_str());
    return 0;
  }
  if (pos.size() != 1) return fail(invalidArgument("run takes one MODEL.onnx or ENGINE.qrt"));
  if (infer.threads > 0) setNumThreads(infer.threads);
  auto config = makeBuilderConfig(model, build);
  if (!config.ok()) return fail(config.status());
  auto engine = loadEngine(pos[0], *config);
  if (!engine.ok()) return fail(engine.status());
  if (!image.empty() && !infer.inputs.empty()) return fail(invalidArgument("give --image or --input, not both"));
  auto inputs = image.empty() ? loadInputs(infer.inputs, **engine) : loadImageInput(image, prep, **engine, pos[0]);
  if (!inputs.ok()) return fail(inputs.status());
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) return fail(ctx.status());
  ExecutionContext& c = **ctx;
  // CUDA engines: device buffers, filled and read back through pinned host memory.
  DeviceIo io(**engine);
  for (auto& [name, t] : *inputs) {
    if (Status s = c.setInputShape(name, t.dims()); !s.ok()) return fail(s);
    if (Status s = io.bindInput(c, name, t.data(), t.bytes()); !s.ok()) return fail(s);
  }
  std::vector<std::pair<std::string, HostTensor>> outputs;
  outputs.reserve((*engine)->outputs().size());
  for (const auto& o : (*engine)->outputs()) {
    auto dims = c.tensorShape(o.name);
    if (!dims.ok()) return fail(dims.status());
    outputs.emplace_back(o.name, HostTensor(o.dtype, *dims));
    HostTensor& t = outputs.back().second;
    if (Status s = io.bindOutput(c, o.name, t.data(), t.bytes()); !s.ok()) return fail(s);
  }
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = c.enqueue(); !s.ok()) return fail(s);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (Status s = io.fetch(); !s.ok()) return fail(s);
  if (!infer.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(infer.output_dir, ec);
    if (ec) return fail(ioError("cannot create output folder '", infer.output_dir, "': ", ec.message()));
  }
  for (const auto& [name, t] : outputs) {
    printSummary(name, t);
    if (!infer.output_dir.empty()) {
      std::string path = infer.output_dir + "/" + sanitize(name) + ".npy";
      if (Status s = writeNpy(path, t); !s.ok()) return fail(s);
      std::printf("  wrote %s\n", path.c_str());
    }
  }
  if (io.onDevice()) std::printf("run: %.3f ms (one inference on the GPU, copies excluded)\n", ms);
  else std::printf("run: %.3f ms (one inference, %d threads)\n", ms, numThreads());
  return 0;
}

}  // namespace qrt::cli
