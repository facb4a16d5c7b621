// qrt bench: latency and throughput of an engine on random inputs, like trtexec: warmup runs,
// then timed enqueues (steady_clock around each), summarized as min/max/mean/median/p90/p99 and
// samples per second; optionally a per-layer profile (qrt::Profiler) and a JSON record that
// bench/cpu/run_cpu_bench.py collects.
//
// CUDA engines (device=cuda in the engine; --device cuda builds an .onnx for the GPU): inputs
// and outputs live in device memory (the random inputs are uploaded once, through pinned
// memory), every run is enqueued on one stream between two CUDA events, and the latencies are
// the events' elapsed times (GPU clock). --cuda-graph replays a captured CUDA graph. --profile
// then re-runs on a second context whose kernels are each bracketed by events (the CUDA
// backend's profile.h, a ProfilingScope), without graphs, so the timed runs stay unperturbed.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "commands.h"
#include "core/file_util.h"
#include "core/json_writer.h"
#include "core/status_macros.h"
#include "core/threadpool.h"
#include "data/tensor_file.h"
#include "runtime/profiler.h"
#ifdef QRT_HAVE_CUDA
#include <cstdlib>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/device_timer.h"
#include "backends/cuda/profile.h"
#endif

namespace qrt::cli {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// ---- Random inputs ----
// Mulberry32 (a 32-bit generator with a one-word state), chosen because JavaScript computes it
// exactly with Math.imul: bench/ort/bench_ort.js draws the very same values, so qrt and ONNX
// Runtime are timed on identical inputs. Keep the two in step.
struct Mulberry32 {
  uint32_t state;
  uint32_t next() {
    uint32_t t = state += 0x6D2B79F5u;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
  }
  double uniform() { return next() / 4294967296.0; }  // [0, 1)
};

// Each input's stream starts from seed + FNV-1a(name), so it does not depend on input order.
uint32_t inputSeed(uint32_t seed, const std::string& name) {
  uint32_t h = 2166136261u;
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return seed + h;
}

// Floats uniform in [-1, 1); integers in [0, 4) (valid as indices, ids or small counts); bools
// half true. The values are drawn as float and converted, so every dtype follows one rule.
Result<HostTensor> randomTensor(const TensorInfo& info, const Dims& dims, uint32_t seed) {
  DataType t = info.dtype;
  if (t == DataType::kString || t == DataType::kUndefined || dataTypeSize(t) == 0)
    return unsupported("input '", info.name, "' is ", dataTypeName(t), ": bench cannot make random values for it");
  bool floating = t == DataType::kFloat || t == DataType::kHalf || t == DataType::kBFloat16 || t == DataType::kDouble;
  Mulberry32 rng{inputSeed(seed, info.name)};
  int64_t n = volume(dims);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) {
    double u = rng.uniform();
    v = floating ? static_cast<float>(2.0 * u - 1.0) : t == DataType::kBool ? (u < 0.5 ? 1.f : 0.f) : std::floor(u * 4.0);
  }
  HostTensor out(t, dims);
  convertElements(values.data(), DataType::kFloat, out.data(), t, n);
  return out;
}

// The shape each input runs at: --shapes first, then --batch for a dynamic first dim, then 1
// for a still-dynamic first dim. Any other dynamic dim must come from --shapes.
Result<std::map<std::string, Dims>> resolveShapes(const Engine& engine, const std::map<std::string, Dims>& given,
                                                  int batch) {
  std::map<std::string, Dims> out;
  for (const auto& [name, dims] : given) {
    auto inputs = engine.inputs();
    if (std::none_of(inputs.begin(), inputs.end(), [&](const TensorInfo& t) { return t.name == name; }))
      return notFound("--shapes names '", name, "', which is not an input of the model");
  }
  for (const TensorInfo& in : engine.inputs()) {
    auto it = given.find(in.name);
    Dims d = it != given.end() ? it->second : in.dims;
    if (d.size() != in.dims.size())
      return invalidArgument("--shapes ", in.name, ":", dimsToString(d), " has rank ", d.size(), ", the input has rank ",
                             in.dims.size(), " (", dimsToString(in.dims), ")");
    if (!d.empty() && in.dims[0] < 0) {
      if (batch > 0) d[0] = batch;
      else if (d[0] < 0) d[0] = 1;
    } else if (!d.empty() && batch > 0 && d[0] != batch) {
      return invalidArgument("--batch ", batch, ": input '", in.name, "' has a fixed first dim ", dimsToString(in.dims),
                             " in this engine");
    }
    for (size_t i = 0; i < d.size(); ++i)
      if (d[i] < 0)
        return invalidArgument("input '", in.name, "' has dynamic dims ", dimsToString(in.dims), ": give --shapes ",
                               in.name, ":...");
    out[in.name] = d;
  }
  return out;
}

// ---- Statistics ----

struct LatencyStats {
  double min = 0, max = 0, mean = 0, median = 0, p90 = 0, p99 = 0, total_ms = 0;
  size_t count = 0;
};

// Nearest-rank percentile of sorted data: the smallest value with at least p% of runs at or below.
double percentile(const std::vector<double>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

LatencyStats summarize(std::vector<double> ms) {
  LatencyStats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.count = ms.size();
  for (double x : ms) s.total_ms += x;
  s.min = ms.front();
  s.max = ms.back();
  s.mean = s.total_ms / static_cast<double>(ms.size());
  size_t m = ms.size() / 2;
  s.median = ms.size() % 2 ? ms[m] : 0.5 * (ms[m - 1] + ms[m]);
  s.p90 = percentile(ms, 90);
  s.p99 = percentile(ms, 99);
  return s;
}

// The process's peak resident memory (VmHWM), in MiB; 0 where /proc is absent.
double peakRssMb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return 0;
}

// ---- The run ----

struct ProfileRow {
  std::string layer, op, backend, precision;
  double total_ms = 0, avg_ms = 0, percent = 0;
};

struct BenchResult {
  std::string model;
  bool built = false;  // from ONNX (load_ms is the build) rather than an engine file
  double load_ms = 0, context_ms = 0, warmup_ms = 0;
  std::vector<std::pair<TensorInfo, Dims>> inputs;  // as declared, as run
  std::map<std::string, int> backends;               // layers per backend
  int64_t batch = 1;
  int threads = 1;
  size_t activation_bytes = 0;
  LatencyStats latency;
  double throughput = 0;  // samples per second
  double peak_rss_mb = 0;
  std::vector<ProfileRow> profile;  // sorted by total time, slowest first
  int64_t profile_runs = 0;
  bool cuda = false;        // a CUDA engine, timed with CUDA events
  bool cuda_graph = false;  // replayed as a CUDA graph
  std::string gpu;          // the device, as cuda::deviceSummary() names it
};

// The table rows: the profiler's sums joined with what the engine says about each layer.
std::vector<ProfileRow> profileRows(const LayerTimeTable& table, const Engine& engine) {
  std::map<std::string, LayerInfo> info;
  for (LayerInfo& l : engine.layers()) info[l.name] = std::move(l);
  std::vector<ProfileRow> rows;
  double total = table.totalMs();
  int64_t runs = std::max<int64_t>(table.runs(), 1);
  for (const auto& r : table.rows()) {
    ProfileRow row;
    row.layer = r.layer;
    if (auto it = info.find(r.layer); it != info.end()) {
      row.op = it->second.op;
      row.backend = it->second.backend;
      row.precision = it->second.precision;
    }
    row.total_ms = r.total_ms;
    row.avg_ms = r.total_ms / static_cast<double>(runs);
    row.percent = total > 0 ? 100.0 * r.total_ms / total : 0;
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.total_ms > b.total_ms; });
  return rows;
}

Status saveInputs(const std::string& dir, const std::map<std::string, HostTensor>& inputs) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ioError("cannot create folder '", dir, "': ", ec.message());
  for (const auto& [name, t] : inputs) {
    std::string file = name;
    for (char& c : file)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
    QRT_RETURN_IF_ERROR(writeNpy(dir + "/" + file + ".npy", t));
  }
  return Status::Ok();
}

// The CUDA engine path (see the top of the file).
Result<BenchResult> runCudaBench(BenchResult r, const std::shared_ptr<Engine>& engine, const ModelOptions& model,
                                 const BenchOptions& opts, double duration_s) {
#ifndef QRT_HAVE_CUDA
  (void)r, (void)engine, (void)model, (void)opts, (void)duration_s;
  return unsupported("this engine runs on CUDA, but this qrt was built without the CUDA backend");
#else
  r.cuda = true;
  r.cuda_graph = opts.cuda_graph;
  QRT_RETURN_IF_ERROR(cuda::deviceStatus());
  r.gpu = cuda::deviceSummary();
  QRT_ASSIGN_OR_RETURN(auto given, parseShapes(model.shapes));
  QRT_ASSIGN_OR_RETURN(auto shapes, resolveShapes(*engine, given, opts.batch));

  // Binds random inputs (uploaded once) and output buffers on the device to a new context.
  std::map<std::string, HostTensor> inputs;
  std::vector<std::shared_ptr<void>> buffers;
  auto makeContext = [&]() -> Result<std::unique_ptr<ExecutionContext>> {
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
    ctx->setCudaGraph(opts.cuda_graph);
    for (const TensorInfo& in : engine->inputs()) {
      const Dims& d = shapes.at(in.name);
      if (!inputs.count(in.name)) {
        QRT_ASSIGN_OR_RETURN(inputs[in.name], randomTensor(in, d, static_cast<uint32_t>(opts.seed)));
      }
      const HostTensor& t = inputs[in.name];
      QRT_RETURN_IF_ERROR(ctx->setInputShape(in.name, d));
      QRT_ASSIGN_OR_RETURN(auto pinned, cuda::pinnedAlloc(t.bytes()));
      std::memcpy(pinned.get(), t.data(), t.bytes());
      QRT_ASSIGN_OR_RETURN(auto dev, cuda::deviceAlloc(t.bytes()));
      QRT_RETURN_IF_ERROR(cuda::copyToDevice(dev.get(), pinned.get(), t.bytes()));
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(in.name, dev.get()));
      buffers.push_back(dev);
    }
    for (const TensorInfo& o : engine->outputs()) {
      QRT_ASSIGN_OR_RETURN(Dims d, ctx->tensorShape(o.name));
      QRT_ASSIGN_OR_RETURN(auto dev, cuda::deviceAlloc(static_cast<size_t>(volume(d)) * dataTypeSize(o.dtype)));
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(o.name, dev.get()));
      buffers.push_back(dev);
    }
    return ctx;
  };

  auto t0 = Clock::now();
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, makeContext());
  for (const TensorInfo& in : engine->inputs()) r.inputs.emplace_back(in, shapes.at(in.name));
  if (!opts.save_inputs.empty()) QRT_RETURN_IF_ERROR(saveInputs(opts.save_inputs, inputs));
  QRT_ASSIGN_OR_RETURN(auto stream, cuda::createStream());
  // The first enqueue sets the shapes (cuDNN plans, tactic timing): part of the setup.
  QRT_RETURN_IF_ERROR(ctx->enqueue(stream.get()));
  QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream.get()));
  r.context_ms = msSince(t0);
  r.activation_bytes = ctx->activationBytes();
  const Dims& first = r.inputs.empty() ? Dims{} : r.inputs[0].second;
  r.batch = first.empty() ? 1 : std::max<int64_t>(first[0], 1);
  r.threads = 1;

  t0 = Clock::now();
  for (int i = 0; i < opts.warmup; ++i) QRT_RETURN_IF_ERROR(ctx->enqueue(stream.get()));
  QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream.get()));
  r.warmup_ms = msSince(t0);

  // Runs are queued back to back in chunks (one event pair each), then read after a
  // synchronization: the GPU never waits for the host to read a timer.
  constexpr size_t kChunk = 64;
  QRT_ASSIGN_OR_RETURN(auto timer, cuda::EventTimer::create(kChunk));
  std::vector<double> ms;
  const auto start = Clock::now();
  for (bool done = false; !done;) {
    size_t n = kChunk;
    if (opts.iterations > 0) n = std::min(kChunk, static_cast<size_t>(opts.iterations) - ms.size());
    for (size_t i = 0; i < n; ++i) {
      QRT_RETURN_IF_ERROR(timer->start(i, stream.get()));
      QRT_RETURN_IF_ERROR(ctx->enqueue(stream.get()));
      QRT_RETURN_IF_ERROR(timer->stop(i, stream.get()));
    }
    QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream.get()));
    for (size_t i = 0; i < n; ++i) {
      QRT_ASSIGN_OR_RETURN(float t, timer->elapsedMs(i));
      ms.push_back(t);
    }
    done = opts.iterations > 0 ? ms.size() >= static_cast<size_t>(opts.iterations) : msSince(start) >= duration_s * 1000.0;
  }
  const double wall_ms = msSince(start);
  r.latency = summarize(ms);
  // Throughput over the wall time of the back-to-back runs (what a stream of requests gets).
  r.throughput = wall_ms > 0 ? static_cast<double>(r.batch) * static_cast<double>(ms.size()) * 1000.0 / wall_ms : 0;

  if (opts.profile) {
    // A second context with per-kernel events (profiling is decided when a context is made).
    auto pctx = [&] {
      cuda::ProfilingScope profiled;
      return makeContext();
    }();
    if (!pctx.ok()) return pctx.status();
    (*pctx)->setCudaGraph(false);
    QRT_RETURN_IF_ERROR((*pctx)->enqueue(stream.get()));
    QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream.get()));
    cuda::collectLayerTimes();
    cuda::resetLayerTimes();
    const int runs = std::clamp<int>(static_cast<int>(ms.size()), 1, 50);
    for (int i = 0; i < runs; ++i) {
      QRT_RETURN_IF_ERROR((*pctx)->enqueue(stream.get()));
      QRT_RETURN_IF_ERROR(cuda::synchronizeStream(stream.get()));
      cuda::collectLayerTimes();  // each kernel keeps one pair of events: read after every run
    }
    std::map<std::string, LayerInfo> info;
    for (LayerInfo& l : engine->layers()) info[l.name] = std::move(l);
    double total = 0;
    const std::vector<cuda::LayerTime> times = cuda::collectLayerTimes();
    for (const cuda::LayerTime& t : times) total += t.total_ms;
    for (const cuda::LayerTime& t : times) {
      ProfileRow row;
      row.layer = t.layer;
      row.op = t.op;
      row.backend = "cuda";
      if (auto it = info.find(t.layer); it != info.end()) row.precision = it->second.precision;
      row.total_ms = t.total_ms;
      row.avg_ms = t.total_ms / runs;
      row.percent = total > 0 ? 100.0 * t.total_ms / total : 0;
      r.profile.push_back(std::move(row));
    }
    std::stable_sort(r.profile.begin(), r.profile.end(),
                     [](const ProfileRow& a, const ProfileRow& b) { return a.total_ms > b.total_ms; });
    r.profile_runs = runs;
    pctx->reset();
    cuda::resetLayerTimes();
  }
  r.peak_rss_mb = peakRssMb();
  return r;
#endif
}

Result<BenchResult> runBench(const std::string& path, const ModelOptions& model, const BuildOptions& build,
                             const BenchOptions& opts, double duration_s) {
  BenchResult r;
  r.model = path;
  r.built = isOnnxPath(path);
  QRT_ASSIGN_OR_RETURN(BuilderConfig config, makeBuilderConfig(model, build));
  auto t0 = Clock::now();
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, loadEngine(path, config));
  r.load_ms = msSince(t0);
  if (r.built && !build.output.empty()) QRT_RETURN_IF_ERROR(engine->save(build.output));
  for (const LayerInfo& l : engine->layers()) r.backends[l.backend.empty() ? "-" : l.backend] += 1;
  if (engine->metadata("device") == "cuda") return runCudaBench(std::move(r), engine, model, opts, duration_s);
  if (build.device == "cuda")
    return invalidArgument("--device cuda: ", path, " is an engine built for the CPU (rebuild it with --device cuda)");
  if (opts.cuda_graph) return invalidArgument("--cuda-graph applies to CUDA engines; ", path, " runs on the CPU");

  QRT_ASSIGN_OR_RETURN(auto given, parseShapes(model.shapes));
  QRT_ASSIGN_OR_RETURN(auto shapes, resolveShapes(*engine, given, opts.batch));
  t0 = Clock::now();
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
  std::map<std::string, HostTensor> inputs;
  for (const TensorInfo& in : engine->inputs()) {
    const Dims& d = shapes.at(in.name);
    QRT_ASSIGN_OR_RETURN(inputs[in.name], randomTensor(in, d, static_cast<uint32_t>(opts.seed)));
    QRT_RETURN_IF_ERROR(ctx->setInputShape(in.name, d));
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(in.name, inputs[in.name].data()));
    r.inputs.emplace_back(in, d);
  }
  if (!opts.save_inputs.empty()) QRT_RETURN_IF_ERROR(saveInputs(opts.save_inputs, inputs));
  std::vector<HostTensor> outputs;
  outputs.reserve(engine->outputs().size());
  for (const TensorInfo& o : engine->outputs()) {
    QRT_ASSIGN_OR_RETURN(Dims d, ctx->tensorShape(o.name));
    outputs.emplace_back(o.dtype, d);
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(o.name, outputs.back().data()));
  }
  r.context_ms = msSince(t0);
  r.activation_bytes = ctx->activationBytes();
  const Dims& first = r.inputs.empty() ? Dims{} : r.inputs[0].second;
  r.batch = first.empty() ? 1 : std::max<int64_t>(first[0], 1);
  r.threads = numThreads();

  t0 = Clock::now();
  for (int i = 0; i < opts.warmup; ++i) QRT_RETURN_IF_ERROR(ctx->enqueue());
  r.warmup_ms = msSince(t0);

  // Profiling rides along with the timed runs (as trtexec's default): two clock reads per layer.
  LayerTimeTable table;
  if (opts.profile) ctx->setProfiler(&table);
  std::vector<double> ms;
  ms.reserve(opts.iterations > 0 ? static_cast<size_t>(opts.iterations) : 1024);
  auto start = Clock::now();
  for (;;) {
    auto t = Clock::now();
    QRT_RETURN_IF_ERROR(ctx->enqueue());
    ms.push_back(msSince(t));
    if (opts.iterations > 0 ? ms.size() >= static_cast<size_t>(opts.iterations) : msSince(start) >= duration_s * 1000.0)
      break;
  }
  ctx->setProfiler(nullptr);
  r.latency = summarize(ms);
  r.throughput = r.latency.mean > 0 ? static_cast<double>(r.batch) * 1000.0 / r.latency.mean : 0;
  if (opts.profile) {
    r.profile = profileRows(table, *engine);
    r.profile_runs = table.runs();
  }
  r.peak_rss_mb = peakRssMb();
  return r;
}

// ---- Reporting ----

void printProfile(const BenchResult& r) {
  double total = 0;
  size_t op_w = 2, backend_w = 7, prec_w = 4;
  for (const ProfileRow& p : r.profile) {
    total += p.total_ms;
    op_w = std::max(op_w, p.op.size());
    backend_w = std::max(backend_w, p.backend.size());
    prec_w = std::max(prec_w, p.precision.size());
  }
  int64_t runs = std::max<int64_t>(r.profile_runs, 1);
  std::printf("\n=== Profile (%lld runs; layers sum to %.3f ms per run, mean enqueue %.3f ms) ===\n",
              static_cast<long long>(r.profile_runs), total / static_cast<double>(runs), r.latency.mean);
  std::printf("%12s %10s %7s  %-*s  %-*s  %-*s  %s\n", "Total(ms)", "Avg(ms)", "Time%", static_cast<int>(op_w), "Op",
              static_cast<int>(backend_w), "Backend", static_cast<int>(prec_w), "Prec", "Layer");
  for (const ProfileRow& p : r.profile)
    std::printf("%12.3f %10.4f %6.2f%%  %-*s  %-*s  %-*s  %s\n", p.total_ms, p.avg_ms, p.percent, static_cast<int>(op_w),
                p.op.c_str(), static_cast<int>(backend_w), p.backend.c_str(), static_cast<int>(prec_w),
                p.precision.c_str(), p.layer.c_str());
  std::printf("%12.3f %10.4f %6.2f%%  %s\n", total, total / static_cast<double>(runs), 100.0, "Total");
  auto host = r.backends.find("host");
  if (host != r.backends.end())
    std::printf("(%d shape layer%s ran on the host at reshape time, before the timed runs: not listed)\n", host->second,
                host->second == 1 ? "" : "s");
}

void printSummary(const BenchResult& r, const BenchOptions& opts) {
  std::printf("qrt bench: %s\n", r.model.c_str());
  std::printf("  engine: %s in %.1f ms; context and first reshape %.1f ms; activations %.1f MiB\n",
              r.built ? "built from ONNX" : "loaded", r.load_ms, r.context_ms,
              static_cast<double>(r.activation_bytes) / (1024.0 * 1024.0));
  std::string backends;
  for (const auto& [b, n] : r.backends) backends += (backends.empty() ? "" : ", ") + b + " " + std::to_string(n);
  if (r.cuda)
    std::printf("  layers: %s; GPU: %s; CUDA graph %s\n", backends.c_str(), r.gpu.c_str(), r.cuda_graph ? "on" : "off");
  else
    std::printf("  layers: %s; threads: %d\n", backends.c_str(), r.threads);
  for (const auto& [info, dims] : r.inputs)
    std::printf("  input %s: %s %s (random, seed %d)\n", info.name.c_str(), dataTypeName(info.dtype),
                dimsToString(dims).c_str(), opts.seed);
  std::printf("  warmup: %d run%s in %.1f ms\n", opts.warmup, opts.warmup == 1 ? "" : "s", r.warmup_ms);
  const LatencyStats& l = r.latency;
  std::printf("=== Performance summary ===\n");
  std::printf("Throughput: %.2f samples/s (batch %lld, %.2f runs/s)\n", r.throughput, static_cast<long long>(r.batch),
              r.cuda ? r.throughput / static_cast<double>(r.batch) : (l.mean > 0 ? 1000.0 / l.mean : 0.0));
  std::printf("Latency: min = %.4f ms, max = %.4f ms, mean = %.4f ms, median = %.4f ms, percentile(90%%) = %.4f ms, "
              "percentile(99%%) = %.4f ms\n",
              l.min, l.max, l.mean, l.median, l.p90, l.p99);
  if (r.cuda)
    std::printf("Timed runs: %zu, %.3f s of GPU time (CUDA events around each enqueue on one stream)%s\n", l.count,
                l.total_ms / 1000.0, opts.profile ? "; the profile comes from separate runs without graphs" : "");
  else
    std::printf("Timed runs: %zu in %.3f s%s\n", l.count, l.total_ms / 1000.0,
                opts.profile ? " (profiler attached: two clock reads per layer included)" : "");
  std::printf("Engine %s: %.1f ms\n", r.built ? "build" : "load", r.load_ms);
  std::printf("Peak RSS: %.1f MiB\n", r.peak_rss_mb);
  if (!r.profile.empty()) printProfile(r);
}

Status writeJson(const std::string& path, const BenchResult& r, const BenchOptions& opts) {
  const LatencyStats& l = r.latency;
  JsonWriter j;
  j.beginObject();
  j.key("model").value(r.model);
  j.key("qrt_version").value(versionString());
  j.key("median_ms").value(l.median).key("mean_ms").value(l.mean);
  j.key("p90_ms").value(l.p90).key("p99_ms").value(l.p99);
  j.key("min_ms").value(l.min).key("max_ms").value(l.max);
  j.key("throughput").value(r.throughput);
  j.key("batch").value(r.batch);
  j.key("iterations").value(l.count);
  j.key("warmup").value(opts.warmup);
  j.key("threads").value(r.threads);
  j.key("peak_rss_mb").value(r.peak_rss_mb);
  j.key("load_ms").value(r.load_ms);
  j.key("load").value(r.built ? "build" : "file");
  j.key("context_ms").value(r.context_ms);
  j.key("activation_bytes").value(r.activation_bytes);
  j.key("seed").value(opts.seed);
  j.key("profiled").value(opts.profile);
  j.key("device").value(r.cuda ? "cuda" : "cpu");
  if (r.cuda) {
    j.key("cuda_graph").value(r.cuda_graph);
    j.key("gpu").value(r.gpu);
  }
  j.key("inputs").beginArray();
  for (const auto& [info, dims] : r.inputs)
    j.beginObject().key("name").value(info.name).key("dtype").value(dataTypeName(info.dtype)).key("dims").array(dims).endObject();
  j.endArray();
  j.key("backends").beginObject();
  for (const auto& [b, n] : r.backends) j.key(b).value(n);
  j.endObject();
  if (opts.profile) {
    j.key("profile_runs").value(r.profile_runs);
    j.key("profile").beginArray();
    for (const ProfileRow& p : r.profile)
      j.beginObject()
          .key("layer").value(p.layer)
          .key("op").value(p.op)
          .key("backend").value(p.backend)
          .key("precision").value(p.precision)
          .key("total_ms").value(p.total_ms)
          .key("avg_ms").value(p.avg_ms)
          .key("percent").value(p.percent)
          .endObject();
    j.endArray();
  }
  j.endObject();
  std::string text = j.str() + "\n";
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return ioError("cannot create folder '", parent.string(), "' for ", path, ": ", ec.message());
  }
  return writeFileAtomic(path, text.data(), text.size());
}

}  // namespace

int cmdBench(const std::vector<std::string>& args) {
  ModelOptions model;
  BuildOptions build;
  BenchOptions bench;
  OptionGroup gm = model.group(), gb = build.group(), gx = bench.group();
  std::vector<OptionGroup*> groups = {&gm, &gb, &gx};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt bench ENGINE.qrt|MODEL.onnx [--batch N] [--shapes ...] [--warmup N] "
                            "[--iterations N | --duration S] [--threads N] [--json FILE] [--profile] [--cuda-graph]\n"
                            "(build options apply when given an .onnx, which is built first; -o saves that engine)\n\n"
                            "CUDA engines (built with --device cuda; the engine says so, --device cuda is implied):\n"
                            "inputs and outputs live in device memory (random inputs uploaded once through pinned\n"
                            "memory); each run is enqueued on one stream between two CUDA events, and latency is the\n"
                            "GPU time between them (median, p90, p99); throughput counts the back-to-back runs over\n"
                            "their wall time. --cuda-graph captures the run into a CUDA graph once and replays it.\n"
                            "--profile times every kernel with CUDA events on separate runs (without graphs) and\n"
                            "prints the per-layer table. The JSON record adds device, cuda_graph and gpu.",
                            groups)
                          .c_str());
    return 0;
  }
  if (pos.size() != 1) return fail(invalidArgument("bench takes one ENGINE.qrt or MODEL.onnx (got ", pos.size(), ")"));
  auto duration = bench.durationSeconds();
  if (!duration.ok()) return fail(duration.status());
  if (!isOnnxPath(pos[0]) && (build.fp16 || build.bf16 || build.int8 || !build.output.empty()))
    return fail(invalidArgument("build options (--fp16, --bf16, --int8, -o) apply to an .onnx model, not to the engine ",
                                pos[0]));
  if (bench.threads > 0) setNumThreads(bench.threads);
  auto result = runBench(pos[0], model, build, bench, *duration);
  if (!result.ok()) return fail(result.status());
  printSummary(*result, bench);
  if (!bench.json.empty()) {
    if (Status s = writeJson(bench.json, *result, bench); !s.ok()) return fail(s);
    std::printf("wrote %s\n", bench.json.c_str());
  }
  return 0;
}

}  // namespace qrt::cli
