#include "quant/calibrate.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "builder/finalize.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "core/threadpool.h"
#include "passes/pass_manager.h"
#include "quant/calibration_cache.h"
#include "runtime/context_access.h"
#include "runtime/engine_impl.h"

namespace qrt::quant {

namespace {

using Clock = std::chrono::steady_clock;

// A progress line on a terminal: "calibrating (pass 1/2: ranges) 320/500 images  41.0 img/s  ETA 4 s".
class Progress {
 public:
  Progress(bool enabled, int64_t total) : on_(enabled && isatty(2)), total_(total), start_(Clock::now()) {}
  void update(const char* phase, int64_t done) {
    if (!on_) return;
    double s = std::chrono::duration<double>(Clock::now() - start_).count();
    double rate = s > 0 ? static_cast<double>(done) / s : 0;
    if (total_ > 0) {
      double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
      std::fprintf(stderr, "\rcalibrating (%s) %lld/%lld samples  %.1f/s  ETA %.0f s   ", phase,
                   static_cast<long long>(done), static_cast<long long>(total_), rate, eta);
    } else {
      std::fprintf(stderr, "\rcalibrating (%s) %lld samples  %.1f/s   ", phase, static_cast<long long>(done), rate);
    }
  }
  void restart() { start_ = Clock::now(); }
  void finish() {
    if (on_) std::fprintf(stderr, "\r%80s\r", "");
  }

 private:
  bool on_;
  int64_t total_;
  Clock::time_point start_;
};

bool isFloat(DataType t) { return t == DataType::kFloat; }

// Runs every batch of the calibrator through the context; `observe` sees every activation.
Status runPass(Calibrator& calibrator, ExecutionContext& ctx, const Engine& engine, Progress& progress,
               const char* phase, int64_t* samples) {
  QRT_RETURN_IF_ERROR(calibrator.reset());
  CalibrationBatch batch;
  std::map<std::string, HostTensor> outputs;
  *samples = 0;
  for (;;) {
    QRT_ASSIGN_OR_RETURN(bool more, calibrator.getBatch(batch));
    if (!more) break;
    for (const TensorInfo& in : engine.inputs()) {
      auto it = batch.inputs.find(in.name);
      if (it == batch.inputs.end()) return invalidArgument("the calibrator gave no data for input '", in.name, "'");
      if (in.dtype != DataType::kFloat)
        return unsupported("calibration of input '", in.name, "' of type ", dataTypeName(in.dtype),
                           ": calibration data is float32");
      if (static_cast<int64_t>(it->second.data.size()) != volume(it->second.dims))
        return invalidArgument("calibration batch for '", in.name, "' has ", it->second.data.size(),
                               " values for shape ", dimsToString(it->second.dims));
      QRT_RETURN_IF_ERROR(ctx.setInputShape(in.name, it->second.dims).withContext("calibration data"));
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(in.name, it->second.data.data()));
    }
    for (const TensorInfo& out : engine.outputs()) {
      QRT_ASSIGN_OR_RETURN(Dims d, ctx.tensorShape(out.name));
      HostTensor& t = outputs[out.name];
      if (t.dims() != d || t.dtype() != out.dtype) t = HostTensor(out.dtype, d);
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(out.name, t.data()));
    }
    QRT_RETURN_IF_ERROR(ctx.enqueue());
    *samples += batch.samples;
    progress.update(phase, *samples);
  }
  if (*samples == 0) return invalidArgument("the calibration data is empty");
  return Status::Ok();
}

// Parallel update of one collector type over a float tensor: per-chunk partials, merged.
template <typename Collector, typename Make>
void collect(Collector& into, const float* x, int64_t n, Make make) {
  constexpr int64_t kGrain = 1 << 16;
  if (n < 2 * kGrain) {
    into.update(x, static_cast<size_t>(n));
    return;
  }
  std::mutex m;
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) {
    Collector local = make();
    local.update(x + b, static_cast<size_t>(e - b));
    std::lock_guard<std::mutex> lk(m);
    into.merge(local);
  });
}

// Histogram has add(), RangeCollector update(): adapt.
struct HistogramUpdater {
  Histogram h;
  void update(const float* x, size_t n) { h.add(x, n); }
  void merge(const HistogramUpdater& o) { h.merge(o.h).ignore(); }
};

}  // namespace

std::vector<std::string> calibratedTensorNames(const ir::Graph& graph) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const ir::Value* v : graph.inputs)
    if (isFloat(v->dtype) && seen.insert(v->name).second) names.push_back(v->name);
  for (const auto& n : graph.nodes()) {
    if (n->backend == "host") continue;
    for (const ir::Value* o : n->outputs)
      if (o && isFloat(o->dtype) && !o->isConstant() && seen.insert(o->name).second) names.push_back(o->name);
  }
  return names;
}

Result<CalibrationOutcome> calibrate(const ir::Graph& graph, Calibrator& calibrator,
                                     const CalibrationRunOptions& options) {
  CalibrationOutcome outcome;
  CalibrationOptions algo_options;
  algo_options.algorithm = calibrator.algorithm();
  algo_options.percentile = calibrator.percentile();
  QRT_RETURN_IF_ERROR(validateCalibrationOptions(algo_options));

  // An FP32 engine over a copy of the graph runs the batches.
  // entropy2 calibrates the graph as written (before fusion, like TensorRT's EntropyCalibrator2);
  // the legacy entropy calibrates after layer fusion, so only tensors that survive fusion (the
  // outputs of fused conv + bias + activation layers) get scales, as with TensorRT's
  // EntropyCalibrator. Q/DQ insertion needs only those: the inputs of the quantized layers.
  auto calib_graph = graph.clone();
  if (algo_options.algorithm == CalibrationAlgo::kEntropy)
    QRT_RETURN_IF_ERROR(passes::runFusionPasses(*calib_graph));
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, finalizeEngine(std::move(calib_graph), {}));
  std::vector<std::string> names = calibratedTensorNames(*engine->impl().graph);

  if (auto text = calibrator.readCache()) {
    auto cache = parseCalibrationCache(*text, "calibration cache");
    Status match = cache.ok() ? checkCacheMatches(*cache, cacheAlgorithmName(algo_options.algorithm), names, true)
                              : cache.status();
    if (match.ok()) {
      for (const auto& [name, scale] : cache->scales) outcome.scales[name] = scale;
      outcome.from_cache = true;
      return outcome;
    }
    outcome.cache_note = match.message();
    logWarning(options.cache_name, " not used: ", outcome.cache_note, "; calibrating instead");
  }

  auto t0 = Clock::now();
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < names.size(); ++i) index[names[i]] = i;
  Progress progress(options.progress, calibrator.numSamples());

  // Pass 1: the range of every tensor.
  std::vector<RangeCollector> ranges(names.size());
  internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
    auto it = index.find(v.name);
    if (it == index.end() || view.dtype != DataType::kFloat) return;
    collect(ranges[it->second], view.as<float>(), view.numel(), [] { return RangeCollector(); });
  });
  int64_t samples = 0;
  QRT_RETURN_IF_ERROR(runPass(calibrator, *ctx, *engine, progress, "pass 1/2: ranges", &samples));

  // Pass 2: exact histograms over those ranges.
  std::vector<HistogramUpdater> hists;
  hists.reserve(names.size());
  for (const RangeCollector& r : ranges) hists.push_back({Histogram(r.amax())});
  internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
    auto it = index.find(v.name);
    if (it == index.end() || view.dtype != DataType::kFloat) return;
    float range = hists[it->second].h.rangeMax();
    collect(hists[it->second], view.as<float>(), view.numel(), [range] { return HistogramUpdater{Histogram(range)}; });
  });
  progress.restart();
  int64_t samples2 = 0;
  QRT_RETURN_IF_ERROR(runPass(calibrator, *ctx, *engine, progress, "pass 2/2: histograms", &samples2));
  progress.finish();
  if (samples2 != samples)
    return invalidArgument("the calibrator gave ", samples, " samples in the first pass and ", samples2,
                           " in the second: reset() must rewind to the same data");

  for (size_t i = 0; i < names.size(); ++i) {
    QRT_ASSIGN_OR_RETURN(TensorCalibration tc, calibrateTensor(names[i], std::move(hists[i].h), algo_options));
    outcome.scales[tc.name] = tc.scale;
    outcome.tensors.push_back(std::move(tc));
  }
  outcome.samples = samples;
  outcome.seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  CalibrationCache cache = cacheFromCalibration(outcome.tensors, algo_options.algorithm, options.cache_version);
  QRT_RETURN_IF_ERROR(calibrator.writeCache(formatCalibrationCache(cache)));
  if (!options.report_path.empty())
    QRT_RETURN_IF_ERROR(writeCalibrationReport(options.report_path, outcome.tensors));
  return outcome;
}

}  // namespace qrt::quant
