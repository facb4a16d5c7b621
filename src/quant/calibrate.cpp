#include "quant/calibrate.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "builder/finalize.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "core/threadpool.h"
#include "passes/pass_manager.h"
#include "quant/calibration_cache.h"
#include "runtime/context_access.h"
#include "runtime/engine_impl.h"
#include "runtime/kernel_factory.h"
#ifdef QRT_HAVE_CUDA
#include "backends/cuda/calib_stats.h"
#include "backends/cuda/device_memory.h"
#endif

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

// The default limit of the in-memory batch cache: a quarter of the available memory, <= 2 GiB.
int64_t defaultBatchCacheBytes() {
  constexpr int64_t kCap = int64_t{2} << 30;
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return int64_t{256} << 20;
  return std::min<int64_t>(kCap, static_cast<int64_t>(pages) * page / 4);
}

// The batches of one pass: from the calibrator, or replayed from memory. The first pass keeps
// copies of the batches while they fit in the budget; the second pass then replays them in the
// same order (same data, same batches: the results are those of reading the calibrator again)
// instead of decoding and preprocessing everything a second time.
class BatchSource {
 public:
  BatchSource(Calibrator& calibrator, int64_t budget_bytes) : calibrator_(calibrator), budget_(budget_bytes) {}

  // Starts a pass: the calibrator is rewound unless the previous pass was kept whole.
  Status begin() {
    if (recording_) {
      recording_ = false;  // the first pass ended: what was kept is every batch
      replaying_ = kept_ok_;
      if (!kept_ok_) kept_.clear();
    } else if (!replaying_) {
      recording_ = budget_ > 0;
      kept_ok_ = recording_;
    }
    next_ = 0;
    if (replaying_) return Status::Ok();
    return calibrator_.reset();
  }
  // The next batch, or nullptr when the data has ended.
  Result<const CalibrationBatch*> next() {
    if (replaying_) return next_ < kept_.size() ? &kept_[next_++] : nullptr;
    QRT_ASSIGN_OR_RETURN(bool more, calibrator_.getBatch(batch_));
    if (!more) return nullptr;
    if (recording_ && kept_ok_) {
      int64_t bytes = 0;
      for (const auto& [name, t] : batch_.inputs) bytes += static_cast<int64_t>(t.data.size() * sizeof(float));
      if (kept_bytes_ + bytes <= budget_) {
        kept_.push_back(std::move(batch_));  // kept as it is: no copy (the calibrator refills batch_)
        batch_ = CalibrationBatch{};          // empty, not moved-from: getBatch sees a fresh batch
        kept_bytes_ += bytes;
        return &kept_.back();
      } else {
        kept_ok_ = false;  // too large: the second pass reads the calibrator again
        kept_.clear();
        kept_.shrink_to_fit();
      }
    }
    return &batch_;
  }
  bool replaying() const { return replaying_; }

 private:
  Calibrator& calibrator_;
  int64_t budget_;
  CalibrationBatch batch_;
  std::vector<CalibrationBatch> kept_;
  int64_t kept_bytes_ = 0;
  bool recording_ = false, kept_ok_ = false, replaying_ = false;
  size_t next_ = 0;
};

// Device buffers for the inputs and outputs of a device engine (calibration data is on the
// host); grown as needed, kept from batch to batch.
struct DeviceIoBuffers {
  std::map<std::string, std::shared_ptr<void>> buffers;
  std::map<std::string, size_t> sizes;
};

// Runs every batch through the context; the observer set on it sees every activation. `stream`
// is the CUDA stream of a device engine (nullptr: host engine). `shapes`: the input shapes set on
// the context so far (kept across passes).
Status runPass(BatchSource& source, ExecutionContext& ctx, const Engine& engine, Progress& progress,
               const char* phase, int64_t* samples, void* stream, DeviceIoBuffers* device_io,
               std::map<std::string, Dims>* shapes) {
  QRT_RETURN_IF_ERROR(source.begin());
  std::map<std::string, HostTensor> outputs;
  *samples = 0;
  for (;;) {
    QRT_ASSIGN_OR_RETURN(const CalibrationBatch* batch, source.next());
    if (!batch) break;
    for (const TensorInfo& in : engine.inputs()) {
      auto it = batch->inputs.find(in.name);
      if (it == batch->inputs.end()) return invalidArgument("the calibrator gave no data for input '", in.name, "'");
      if (in.dtype != DataType::kFloat)
        return unsupported("calibration of input '", in.name, "' of type ", dataTypeName(in.dtype),
                           ": calibration data is float32");
      if (static_cast<int64_t>(it->second.data.size()) != volume(it->second.dims))
        return invalidArgument("calibration batch for '", in.name, "' has ", it->second.data.size(),
                               " values for shape ", dimsToString(it->second.dims));
      // A new shape re-plans the context (on a GPU: device memory and convolution tactics), so
      // it is set only when it changes, e.g. for a shorter last batch.
      Dims& last = (*shapes)[in.name];
      if (last != it->second.dims) {
        QRT_RETURN_IF_ERROR(ctx.setInputShape(in.name, it->second.dims).withContext("calibration data"));
        last = it->second.dims;
      }
      void* address = const_cast<float*>(it->second.data.data());
#ifdef QRT_HAVE_CUDA
      if (device_io) {
        const size_t bytes = it->second.data.size() * sizeof(float);
        auto& buf = device_io->buffers[in.name];
        if (!buf || device_io->sizes[in.name] < bytes) {
          QRT_ASSIGN_OR_RETURN(buf, cuda::deviceAlloc(bytes));
          device_io->sizes[in.name] = bytes;
        }
        QRT_RETURN_IF_ERROR(cuda::copyToDevice(buf.get(), it->second.data.data(), bytes));
        address = buf.get();
      }
#endif
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(in.name, address));
    }
    for (const TensorInfo& out : engine.outputs()) {
      QRT_ASSIGN_OR_RETURN(Dims d, ctx.tensorShape(out.name));
      void* address = nullptr;
#ifdef QRT_HAVE_CUDA
      if (device_io) {
        const size_t bytes = static_cast<size_t>(std::max<int64_t>(volume(d), 1)) * dataTypeSize(out.dtype);
        auto& buf = device_io->buffers["\n" + out.name];  // outputs apart from inputs of the same name
        if (!buf || device_io->sizes["\n" + out.name] < bytes) {
          QRT_ASSIGN_OR_RETURN(buf, cuda::deviceAlloc(bytes));
          device_io->sizes["\n" + out.name] = bytes;
        }
        address = buf.get();
      }
#endif
      if (!address) {
        HostTensor& t = outputs[out.name];
        if (t.dims() != d || t.dtype() != out.dtype) t = HostTensor(out.dtype, d);
        address = t.data();
      }
      QRT_RETURN_IF_ERROR(ctx.setTensorAddress(out.name, address));
    }
    if (stream) {
#ifdef QRT_HAVE_CUDA
      QRT_RETURN_IF_ERROR(ctx.enqueue(stream));
      // The input buffers are refilled for the next batch: its copy must not overtake this run.
      QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream));
#endif
    } else {
      QRT_RETURN_IF_ERROR(ctx.enqueue());
    }
    *samples += batch->samples;
    progress.update(phase, *samples);
  }
  if (*samples == 0) return invalidArgument("the calibration data is empty");
  return Status::Ok();
}

// Host statistics of the calibrated tensors. A large tensor is split into slices counted in
// parallel into per-slice partials (kept from batch to batch: no allocation per batch), then
// merged: integer counts and maxima, so the result does not depend on the split.
class HostStats {
 public:
  explicit HostStats(size_t tensors) : ranges_(tensors) {}

  void addRange(size_t t, const float* x, int64_t n) {
    const int64_t slices = slicesFor(n);
    if (slices <= 1) {
      ranges_[t].update(x, static_cast<size_t>(n));
      return;
    }
    range_parts_.assign(static_cast<size_t>(slices), RangeCollector());
    parallelFor(slices, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t lo = n * k / slices, hi = n * (k + 1) / slices;
        range_parts_[static_cast<size_t>(k)].update(x + lo, static_cast<size_t>(hi - lo));
      }
    });
    for (const RangeCollector& p : range_parts_) ranges_[t].merge(p);
  }

  void startHistograms() {
    hists_.clear();
    hists_.reserve(ranges_.size());
    for (const RangeCollector& r : ranges_) hists_.emplace_back(r.amax());
  }

  void addHistogram(size_t t, const float* x, int64_t n) {
    Histogram& h = hists_[t];
    const int64_t slices = slicesFor(n);
    if (slices <= 1) {
      h.add(x, static_cast<size_t>(n));
      return;
    }
    while (hist_parts_.size() < static_cast<size_t>(slices)) hist_parts_.emplace_back(0.0f);
    parallelFor(slices, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t lo = n * k / slices, hi = n * (k + 1) / slices;
        Histogram& part = hist_parts_[static_cast<size_t>(k)];
        part.reset(h.rangeMax());
        part.add(x + lo, static_cast<size_t>(hi - lo));
      }
    });
    for (int64_t k = 0; k < slices; ++k) h.merge(hist_parts_[static_cast<size_t>(k)]).ignore();
  }

  std::vector<Histogram>& histograms() { return hists_; }

 private:
  // Slices of at least kGrain values, a few per thread so that a busy thread delays little.
  static int64_t slicesFor(int64_t n) {
    constexpr int64_t kGrain = 1 << 16;
    if (n < 2 * kGrain || numThreads() <= 1) return 1;
    return std::min<int64_t>(n / kGrain, 4 * static_cast<int64_t>(numThreads()));
  }

  std::vector<RangeCollector> ranges_;
  std::vector<RangeCollector> range_parts_;
  std::vector<Histogram> hists_;
  std::vector<Histogram> hist_parts_;
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
  std::set<std::string> graph_values;
  for (const ir::Value* v : calib_graph->inputs) graph_values.insert(v->name);
  for (const auto& n : calib_graph->nodes())
    for (const ir::Value* o : n->outputs)
      if (o) graph_values.insert(o->name);
  const bool on_device = options.device == DeviceType::kCUDA;
  std::map<std::string, std::string> engine_metadata;
  if (on_device) {
#ifdef QRT_HAVE_CUDA
    // A strict FP32 CUDA engine (no TF32, no FP16): the activations the CPU engine would compute,
    // up to the order of floating-point sums. With the libraries' heuristic plans (no tactic
    // timing): it runs a few hundred images, and is built even when the cache then matches (its
    // tensors are what the cache must cover). Timed, ResNet-50's at batch 256 took 13 s of an
    // 18-s INT8 rebuild from the caches (H100, session 9).
    BuilderConfig device_config;
    device_config.setDevice(DeviceType::kCUDA);
    device_config.setTimingRuns(0);
    QRT_RETURN_IF_ERROR(prepareGraphForDevice(*calib_graph, device_config, engine_metadata)
                            .withContext("calibration on the GPU"));
#else
    return unsupported("calibration on the GPU (--device cuda): this qrt was built without the CUDA backend");
#endif
  }
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, finalizeEngine(std::move(calib_graph), engine_metadata));
  // The tensors of the graph as given: finalizeEngine may add tensors of its own (layout changes
  // around channels-last kernels), which are no model tensors and get no scale.
  std::vector<std::string> names;
  for (std::string& n : calibratedTensorNames(*engine->impl().graph))
    if (graph_values.count(n)) names.push_back(std::move(n));

  if (auto text = calibrator.readCache()) {
    auto cache = parseCalibrationCache(*text, "calibration cache");
    Status match = cache.ok() ? checkCacheMatches(*cache, cacheHeaderName(algo_options), names, true)
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
  BatchSource source(calibrator,
                     options.batch_cache_bytes < 0 ? defaultBatchCacheBytes() : options.batch_cache_bytes);
  // The observer sees a tensor right after the kernel that wrote it; `which` finds its slot.
  auto which = [&](const ir::Value& v, const TensorView& view) -> int64_t {
    if (view.dtype != DataType::kFloat) return -1;
    auto it = index.find(v.name);
    return it == index.end() ? -1 : static_cast<int64_t>(it->second);
  };
  std::vector<Histogram> histograms;
  std::map<std::string, Dims> shapes;
  int64_t samples = 0, samples2 = 0;

  if (on_device) {
#ifdef QRT_HAVE_CUDA
    // Device engine: inputs and outputs in device buffers, the statistics kernels queued on the
    // run's stream right behind the kernel that wrote each tensor.
    QRT_ASSIGN_OR_RETURN(std::shared_ptr<void> stream, cuda::createStream());
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<cuda::CalibrationStats> stats,
                         cuda::CalibrationStats::create(names.size(), kHistogramBins));
    DeviceIoBuffers io;
    Status observed = Status::Ok();
    internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
      const int64_t t = which(v, view);
      if (t < 0 || !observed.ok()) return;
      observed = stats->addRange(static_cast<size_t>(t), view.as<float>(), view.numel(), stream.get());
    });
    QRT_RETURN_IF_ERROR(
        runPass(source, *ctx, *engine, progress, "pass 1/2: ranges", &samples, stream.get(), &io, &shapes));
    QRT_RETURN_IF_ERROR(observed);
    QRT_ASSIGN_OR_RETURN(std::vector<float> ranges, stats->ranges(stream.get()));
    for (float r : ranges) histograms.emplace_back(r);
    internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
      const int64_t t = which(v, view);
      if (t < 0 || !observed.ok()) return;
      observed = stats->addHistogram(static_cast<size_t>(t), view.as<float>(), view.numel(),
                                     histograms[static_cast<size_t>(t)].binsPerUnit(), stream.get());
    });
    progress.restart();
    QRT_RETURN_IF_ERROR(
        runPass(source, *ctx, *engine, progress, "pass 2/2: histograms", &samples2, stream.get(), &io, &shapes));
    QRT_RETURN_IF_ERROR(observed);
    QRT_ASSIGN_OR_RETURN(std::vector<std::vector<uint64_t>> counts, stats->histograms(stream.get()));
    for (size_t i = 0; i < names.size(); ++i) {
      const uint64_t non_finite = counts[i].back();
      counts[i].pop_back();
      QRT_ASSIGN_OR_RETURN(histograms[i], Histogram::fromCounts(std::move(counts[i]), ranges[i], non_finite));
    }
#endif
  } else {
    HostStats stats(names.size());
    // Pass 1: the range of every tensor.
    internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
      const int64_t t = which(v, view);
      if (t >= 0) stats.addRange(static_cast<size_t>(t), view.as<float>(), view.numel());
    });
    QRT_RETURN_IF_ERROR(
        runPass(source, *ctx, *engine, progress, "pass 1/2: ranges", &samples, nullptr, nullptr, &shapes));
    // Pass 2: exact histograms over those ranges.
    stats.startHistograms();
    internal::ContextAccess::setObserver(*ctx, [&](const ir::Value& v, const TensorView& view) {
      const int64_t t = which(v, view);
      if (t >= 0) stats.addHistogram(static_cast<size_t>(t), view.as<float>(), view.numel());
    });
    progress.restart();
    QRT_RETURN_IF_ERROR(
        runPass(source, *ctx, *engine, progress, "pass 2/2: histograms", &samples2, nullptr, nullptr, &shapes));
    histograms = std::move(stats.histograms());
  }
  progress.finish();
  internal::ContextAccess::setObserver(*ctx, nullptr);
  if (samples2 != samples)
    return invalidArgument("the calibrator gave ", samples, " samples in the first pass and ", samples2,
                           " in the second: reset() must rewind to the same data");
  outcome.batches_cached = source.replaying();

  // The thresholds, one tensor per task (the entropy search costs a few ms per tensor).
  std::vector<TensorCalibration> results(names.size());
  std::vector<Status> errors(names.size());
  parallelFor(static_cast<int64_t>(names.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      auto tc = calibrateTensor(names[i], std::move(histograms[i]), algo_options);
      if (tc.ok()) results[i] = std::move(*tc);
      else errors[i] = tc.status();
    }
  });
  for (const Status& e : errors) QRT_RETURN_IF_ERROR(e);
  for (TensorCalibration& tc : results) {
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
