// qrt eval: top-1 / top-5 accuracy of a classifier over an image folder (DIR/<class>/*.jpg|png,
// class index = sorted folder order), with batch latency and throughput; optionally the top-1
// agreement with a reference engine (e.g. an INT8 build against its FP32 original).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "commands.h"
#include "device_io.h"
#include "core/file_util.h"
#include "core/json_writer.h"
#include "core/status_macros.h"
#include "core/threadpool.h"
#include "data/image_folder.h"
#include "data/preprocess.h"

namespace qrt::cli {

namespace {

struct EvalOptions {
  std::string images;
  int batch = 0;
  int max = 0;
  std::string json;
  std::string reference;
  int threads = 0;

  OptionGroup group() {
    OptionGroup g{"Evaluation options", {}};
    g.value("--images", &images, "DIR", "labelled images: DIR/<class>/*.jpg|png, class index = sorted folder order");
    g.intValue("--batch", &batch, "N", "images per batch (default: the model's fixed batch, else 32)");
    g.intValue("--max", &max, "N", "evaluate N images spread evenly over the sorted list (every k-th)");
    g.value("--json", &json, "FILE", "also write the results as JSON to FILE");
    g.value("--reference", &reference, "ENGINE2", "run a second engine too; report top-1 agreement with it");
    g.intValue("--threads", &threads, "N", "threads (default: all cores)");
    return g;
  }
};

// One engine with its context and the I/O it is fed through.
struct Runner {
  std::string path;
  std::shared_ptr<Engine> engine;
  std::unique_ptr<ExecutionContext> ctx;
  std::unique_ptr<DeviceIo> io;  // device buffers for CUDA engines (device_io.h)
  std::string input, output;
  Dims input_dims;  // as declared: -1 where dynamic
  HostTensor out;
  std::vector<double> batch_ms;
  int64_t top1 = 0, top5 = 0;
  std::vector<int> predictions;  // top-1 class per evaluated image
};

Result<Runner> openRunner(const std::string& path, const BuilderConfig& config) {
  Runner r;
  r.path = path;
  auto engine = loadEngine(path, config);
  if (!engine.ok()) {
    const Status& s = engine.status();
    return s.message().find(path) == std::string::npos ? s.withContext(path) : s;
  }
  r.engine = *engine;
  auto inputs = r.engine->inputs();
  auto outputs = r.engine->outputs();
  if (inputs.size() != 1)
    return invalidArgument(path, ": eval feeds one image tensor, but the model has ", inputs.size(), " inputs");
  if (outputs.empty()) return invalidArgument(path, ": the model has no outputs");
  if (inputs[0].dtype != DataType::kFloat)
    return invalidArgument(path, ": input '", inputs[0].name, "' is ", dataTypeName(inputs[0].dtype),
                           "; eval feeds fp32 images");
  if (inputs[0].dims.size() != 4)
    return invalidArgument(path, ": input '", inputs[0].name, "' has shape ", dimsToString(inputs[0].dims),
                           "; eval expects an image batch [N,C,H,W] or [N,H,W,C]");
  r.input = inputs[0].name;
  r.input_dims = inputs[0].dims;
  r.output = outputs[0].name;
  QRT_ASSIGN_OR_RETURN(r.ctx, r.engine->createExecutionContext());
  r.io = std::make_unique<DeviceIo>(*r.engine);
  return r;
}

// Fits the spec to the model input: channels must agree, and the input's H x W fixes the resize
// when the spec has none.
Status fitSpecToInput(const Runner& r, PreprocessSpec* spec) {
  const Dims& d = r.input_dims;
  bool nchw = spec->layout == TensorLayout::kNCHW;
  int64_t c = nchw ? d[1] : d[3], h = nchw ? d[2] : d[1], w = nchw ? d[3] : d[2];
  if (c > 0 && c != spec->channels())
    return invalidArgument(r.path, ": input '", r.input, "' ", dimsToString(d), " has ", c, " channels (",
                           tensorLayoutName(spec->layout), "), but preprocessing color ",
                           colorOrderName(spec->color), " gives ", spec->channels(), " (set --color or --layout)");
  if (spec->resize_height == 0) {
    if (h <= 0 || w <= 0)
      return invalidArgument(r.path, ": input '", r.input, "' has dynamic height/width ", dimsToString(d),
                             "; give --resize HxW");
    spec->resize_height = static_cast<int>(h);
    spec->resize_width = static_cast<int>(w);
  } else if ((h > 0 && h != spec->resize_height) || (w > 0 && w != spec->resize_width)) {
    return invalidArgument(r.path, ": input '", r.input, "' ", dimsToString(d), " does not take images resized to ",
                           spec->resize_height, "x", spec->resize_width);
  }
  return Status::Ok();
}

Result<PreprocessSpec> chooseSpec(const PreprocessOptions& opts, const Runner& r) {
  std::string stored = r.engine->metadata("preprocess");
  if (!opts.any() && stored.empty())
    return invalidArgument(r.path, " has no \"preprocess\" metadata: give --preprocess FILE.json (or --color, ",
                           "--resize, --scale, --mean, --std, --layout)");
  auto spec = opts.resolve(stored);
  if (!spec.ok() && opts.file.empty() && !stored.empty())
    return spec.status().withContext(r.path + ": metadata \"preprocess\"");
  return spec;
}

// Runs one batch; `x` holds the engine's full batch (padded when the batch dim is fixed), and the
// first `n` rows are real images.
Status runBatch(Runner* r, HostTensor* x, int64_t n, const std::vector<int>& labels) {
  QRT_RETURN_IF_ERROR(r->ctx->setInputShape(r->input, x->dims()));
  QRT_ASSIGN_OR_RETURN(Dims out_dims, r->ctx->tensorShape(r->output));
  if (out_dims.empty() || out_dims[0] != x->dims()[0] || volume(out_dims) <= 0)
    return invalidArgument(r->path, ": output '", r->output, "' has shape ", dimsToString(out_dims),
                           " for a batch of ", x->dims()[0], "; eval expects class scores [N, classes]");
  if (r->out.dims() != out_dims) r->out = HostTensor(r->engine->outputs()[0].dtype, out_dims);
  // CUDA engines: device buffers, filled and read back through pinned host memory.
  QRT_RETURN_IF_ERROR(r->io->bindInput(*r->ctx, r->input, x->data(), x->bytes()));
  QRT_RETURN_IF_ERROR(r->io->bindOutput(*r->ctx, r->output, r->out.data(), r->out.bytes()));
  auto t0 = std::chrono::steady_clock::now();
  QRT_RETURN_IF_ERROR(r->ctx->enqueue());
  r->batch_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  QRT_RETURN_IF_ERROR(r->io->fetch());

  const int64_t classes = volume(out_dims) / out_dims[0];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = i * classes;
    // Rank of the true class: how many scores beat it (ties go to the lower index, as a stable
    // sort would order them). A NaN score never beats anything; a NaN true score never ranks.
    int label = labels[i];
    double mine = label < classes ? r->out.getDouble(row + label) : NAN;
    int64_t rank = std::isnan(mine) ? classes : 0;
    int64_t best = -1;  // the top-1 class, for agreement with a reference
    for (int64_t k = 0; k < classes; ++k) {
      double s = r->out.getDouble(row + k);
      if (!std::isnan(s) && (best < 0 || s > r->out.getDouble(row + best))) best = k;
      if (!std::isnan(mine) && (s > mine || (s == mine && k < label))) ++rank;
    }
    r->top1 += rank < 1;
    r->top5 += rank < 5;
    r->predictions.push_back(static_cast<int>(std::max<int64_t>(best, 0)));
  }
  return Status::Ok();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Images per second of inference alone (decoding and preprocessing excluded).
double throughput(const Runner& r, size_t images) {
  double ms = sum(r.batch_ms);
  return ms > 0 ? static_cast<double>(images) * 1000.0 / ms : 0;
}

void addRunnerJson(JsonWriter& j, const Runner& r, size_t images) {
  j.key("top1").value(images ? static_cast<double>(r.top1) / images : 0.0);
  j.key("top5").value(images ? static_cast<double>(r.top5) / images : 0.0);
  j.key("correct_top1").value(r.top1);
  j.key("correct_top5").value(r.top5);
  j.key("throughput").value(throughput(r, images));
  j.key("median_batch_ms").value(median(r.batch_ms));
}

// "gray 28x28 scale 0.00392157 mean [0.286] std [0.353] nchw", for the header line.
std::string describe(const PreprocessSpec& spec) {
  auto list = [](const std::vector<float>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + strCat(v[i]);
    return out + "]";
  };
  return strCat(colorOrderName(spec.color), " ", spec.resize_height, "x", spec.resize_width, " scale ", spec.scale,
                " mean ", list(spec.mean), " std ", list(spec.std), " ", tensorLayoutName(spec.layout));
}

// Every k-th path so that --max keeps all classes represented.
void subsample(LabeledImages* set, size_t max) {
  size_t total = set->paths.size();
  if (max == 0 || max >= total) return;
  std::vector<std::string> paths;
  std::vector<int> labels;
  for (size_t i = 0; i < max; ++i) {
    size_t k = i * total / max;
    paths.push_back(set->paths[k]);
    labels.push_back(set->labels[k]);
  }
  set->paths = std::move(paths);
  set->labels = std::move(labels);
}

// The batch: the model's when its batch dimension is fixed (a short last batch is then padded),
// else --batch, else 32.
Result<int64_t> chooseBatch(const EvalOptions& eval, const std::vector<Runner*>& runners, bool* fixed) {
  int64_t batch = eval.batch > 0 ? eval.batch : 32;
  *fixed = false;
  for (const Runner* x : runners) {
    int64_t d = x->input_dims[0];
    if (d <= 0) continue;
    if ((eval.batch > 0 && eval.batch != d) || (*fixed && batch != d))
      return invalidArgument(x->path, ": input '", x->input, "' has a fixed batch of ", d, ", which differs from ",
                             batch, " (rebuild with --shapes, or change --batch)");
    batch = d;
    *fixed = true;
  }
  return batch;
}

// Feeds every image through every runner; returns the number of images evaluated.
Result<size_t> evaluate(const std::vector<Runner*>& runners, const LabeledImages& set, ImageBatchLoader* loader,
                        int64_t batch, bool fixed_batch, const std::string& images_dir) {
  ImageBatch b;
  std::vector<int> labels;
  size_t images = 0;
  bool warned = false;
  while (true) {
    auto more = loader->next(&b);
    if (!more.ok()) return more.status().withContext(images_dir);
    if (!*more) return images;
    const int64_t n = b.tensor.dims()[0];
    labels.clear();
    for (size_t idx : b.indices) labels.push_back(set.labels[idx]);
    HostTensor x = b.tensor;
    if (fixed_batch && n < batch) {  // pad with zeros up to the fixed batch
      Dims d = b.tensor.dims();
      d[0] = batch;
      x = HostTensor(DataType::kFloat, d);
      std::memcpy(x.data(), b.tensor.data(), b.tensor.bytes());
    }
    for (Runner* run : runners) {
      if (Status s = runBatch(run, &x, n, labels); !s.ok())
        return s.message().find(run->path) == std::string::npos ? s.withContext(run->path) : s;
      int64_t classes = run->out.numel() / run->out.dims()[0];
      if (!warned && classes != static_cast<int64_t>(set.classes.size())) {
        std::fprintf(stderr, "qrt: warning: %s gives %lld scores per image but %s has %zu class folders\n",
                     run->path.c_str(), static_cast<long long>(classes), images_dir.c_str(), set.classes.size());
        warned = true;
      }
    }
    images += static_cast<size_t>(n);
  }
}

int64_t agreement(const Runner& a, const Runner& b) {
  int64_t agree = 0;
  for (size_t i = 0; i < a.predictions.size() && i < b.predictions.size(); ++i) agree += a.predictions[i] == b.predictions[i];
  return agree;
}

void printResults(const std::vector<Runner*>& runners, size_t images, size_t skipped) {
  const Runner& r = *runners[0];
  const double n = static_cast<double>(images);
  std::printf("top-1 %.4f (%lld/%zu)  top-5 %.4f (%lld/%zu)  images %zu  latency per batch median %.3f ms  "
              "throughput %.1f img/s\n",
              r.top1 / n, static_cast<long long>(r.top1), images, r.top5 / n, static_cast<long long>(r.top5), images,
              images, median(r.batch_ms), throughput(r, images));
  if (skipped > 0) std::printf("skipped %zu unreadable files\n", skipped);
  if (runners.size() < 2) return;
  const Runner& ref = *runners[1];
  int64_t agree = agreement(r, ref);
  std::printf("reference %s: top-1 %.4f (%lld/%zu)  top-5 %.4f  latency per batch median %.3f ms  "
              "throughput %.1f img/s\n",
              ref.path.c_str(), ref.top1 / n, static_cast<long long>(ref.top1), images, ref.top5 / n,
              median(ref.batch_ms), throughput(ref, images));
  std::printf("top-1 agreement with reference %.4f (%lld/%zu)\n", agree / n, static_cast<long long>(agree), images);
}

Status writeJson(const std::string& path, const std::vector<Runner*>& runners, const EvalOptions& eval,
                 const LabeledImages& set, size_t images, size_t skipped, int64_t batch) {
  JsonWriter j;
  j.beginObject();
  j.key("engine").value(runners[0]->path);
  j.key("images_dir").value(eval.images);
  addRunnerJson(j, *runners[0], images);
  j.key("images").value(images);
  j.key("skipped").value(skipped);
  j.key("classes").value(set.classes.size());
  j.key("batch").value(batch);
  j.key("threads").value(numThreads());
  if (runners.size() > 1) {
    j.key("reference").beginObject();
    j.key("engine").value(runners[1]->path);
    addRunnerJson(j, *runners[1], images);
    j.key("top1_agreement").value(static_cast<double>(agreement(*runners[0], *runners[1])) / images);
    j.endObject();
  }
  j.endObject();
  std::string text = j.str() + "\n";
  return writeFileAtomic(path, text.data(), text.size());
}

// Checks the arguments that need no model, so mistakes surface before a long build or run.
Status checkArgs(const std::vector<std::string>& pos, const EvalOptions& eval) {
  if (pos.size() != 1) return invalidArgument("eval takes one ENGINE.qrt or MODEL.onnx (got ", pos.size(), ")");
  if (eval.images.empty()) return invalidArgument("eval needs --images DIR (DIR/<class>/*.jpg|png)");
  if (eval.batch < 0 || eval.max < 0) return invalidArgument("--batch and --max must be positive");
  if (!eval.json.empty()) {
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(eval.json).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent, ec))
      return notFound("--json ", eval.json, ": folder '", parent.string(), "' does not exist");
  }
  return Status::Ok();
}

}  // namespace

int cmdEval(const std::vector<std::string>& args) {
  EvalOptions eval;
  PreprocessOptions prep;
  ModelOptions model;
  BuildOptions build;
  OptionGroup ge = eval.group(), gp = prep.group(), gm = model.group(), gb = build.group();
  // An .onnx model is built on the fly with the build options, but eval saves no engine.
  std::erase_if(gb.options, [](const Option& o) { return o.name == "--output"; });
  std::vector<OptionGroup*> groups = {&ge, &gp, &gm, &gb};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt eval ENGINE.qrt|MODEL.onnx --images DIR [--batch N] [--max N] [--json FILE] "
                            "[--reference ENGINE2] [preprocessing options]\n\n"
                            "Throughput and latency count inference only (enqueue), not image decoding.\n"
                            "Preprocessing: the flags below, else the engine's \"preprocess\" metadata; the\n"
                            "model input's H x W sets the resize when none is given.",
                            groups)
                          .c_str());
    return 0;
  }
  if (Status s = checkArgs(pos, eval); !s.ok()) return fail(s);
  if (eval.threads > 0) setNumThreads(eval.threads);
  auto config = makeBuilderConfig(model, build);
  if (!config.ok()) return fail(config.status());

  // The engine under test, and optionally the reference, fed the same tensors.
  std::vector<Runner> owned;
  for (const std::string& path : {pos[0], eval.reference}) {
    if (path.empty()) continue;
    auto runner = openRunner(path, *config);
    if (!runner.ok()) return fail(runner.status());
    owned.push_back(std::move(*runner));
  }
  std::vector<Runner*> runners;
  for (Runner& x : owned) runners.push_back(&x);
  auto spec = chooseSpec(prep, *runners[0]);
  if (!spec.ok()) return fail(spec.status());
  for (Runner* x : runners) {
    PreprocessSpec fitted = *spec;
    if (Status s = fitSpecToInput(*x, &fitted); !s.ok()) return fail(s);
    if (x == runners[0]) *spec = fitted;
  }
  bool fixed_batch = false;
  auto batch = chooseBatch(eval, runners, &fixed_batch);
  if (!batch.ok()) return fail(batch.status());

  auto set = listClassFolders(eval.images);
  if (!set.ok()) return fail(set.status());
  subsample(&*set, static_cast<size_t>(eval.max));
  std::printf("eval %s: %zu images in %zu class folders of %s, batch %lld, preprocess %s\n", pos[0].c_str(),
              set->paths.size(), set->classes.size(), eval.images.c_str(), static_cast<long long>(*batch),
              describe(*spec).c_str());
  std::fflush(stdout);

  ImageBatchLoader loader(set->paths, *spec, static_cast<int>(*batch));
  auto images = evaluate(runners, *set, &loader, *batch, fixed_batch, eval.images);
  if (!images.ok()) return fail(images.status());
  printResults(runners, *images, loader.skipped());
  if (!eval.json.empty()) {
    if (Status s = writeJson(eval.json, runners, eval, *set, *images, loader.skipped(), *batch); !s.ok()) return fail(s);
  }
  return 0;
}

}  // namespace qrt::cli
