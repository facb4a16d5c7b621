// Per-op micro-benchmarks (Google Benchmark) over the kernel cases the tests use
// (tests/kernel_cases.h): each case becomes a one-layer engine built for the cpu backend and for
// the reference backend, and only ExecutionContext::enqueue is timed. Building, binding the
// inputs and one warm-up run (first-touch page faults, a reorder of run-time weights into a cold
// workspace) happen before the timed loop. See bench/micro/README.md.
//
//   qrt_micro_bench [--threads=N] [--backends=cpu,reference] [--benchmark_filter=REGEX] ...
//
// Benchmarks are named <family>/<case>/<backend>, e.g. Conv/r50_3x3_64_56/cpu. --threads (or
// QRT_THREADS in the environment) is `qrt bench --threads`: qrt's pool and oneDNN's OpenMP team
// both get N threads; default all cores.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/threadpool.h"
#include "kernel_cases.h"
#include "qrt/qrt.h"
#include "runtime/profiler.h"

#ifdef QRT_HAVE_DNNL
#include "backends/cpu/dnnl_util.h"
#endif

namespace qrt {
namespace {

using test::KernelCase;

// Takes `--name=value` out of argv (Google Benchmark refuses flags it does not know); "" if absent.
std::string takeFlag(int* argc, char** argv, const char* name) {
  std::string prefix = std::string("--") + name + "=", value;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
      value = argv[i] + prefix.size();
    else
      argv[out++] = argv[i];
  }
  *argc = out;
  return value;
}

// `backend` is "cpu" (the builder's own choice: the cpu backend where it has the kernel) or
// "reference" (QRT_BACKEND=reference).
void runCase(benchmark::State& state, const KernelCase* k, const std::string& backend) {
  test::OneNode m = k->model();
  // A case whose oracle is FP32 (BF16 lists) builds its reference engine without the precisions.
  bool fp32_reference = backend == "reference" && k->reference_fp32;
  auto engine = m.build(backend == "reference" ? "reference" : nullptr, fp32_reference ? BuilderConfig{} : k->config);
  if (!engine.ok()) {
    state.SkipWithError(("build: " + engine.status().toString()).c_str());
    return;
  }
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) {
    state.SkipWithError(("context: " + ctx.status().toString()).c_str());
    return;
  }
  auto io = test::bindFeeds(**engine, **ctx, m.feeds());
  if (!io.ok()) {
    state.SkipWithError(("bind: " + io.status().toString()).c_str());
    return;
  }
#ifdef QRT_HAVE_DNNL
  int64_t fallbacks = cpu::fallbackCount();
#endif
  Status warm = (*ctx)->enqueue();
  if (!warm.ok()) {
    state.SkipWithError(("enqueue: " + warm.toString()).c_str());
    return;
  }
  // What ran: every layer's op, backend and precision when not fp32 (passes may add layout or
  // precision conversions), and
  // whether a cpu kernel handed the shape to the reference kernel inside it (then "cpu" times
  // the reference loops).
  std::string label;
  for (const LayerInfo& layer : (*engine)->layers())
    label += (label.empty() ? "" : " ") + layer.op + "(" + layer.backend +
             (layer.precision == "fp32" || layer.precision.empty() ? "" : " " + layer.precision) + ")";
#ifdef QRT_HAVE_DNNL
  if (cpu::fallbackCount() != fallbacks) label += " (reference fallback)";
#endif
  ExecutionContext& c = **ctx;
  for (auto _ : state) {
    Status s = c.enqueue();
    if (!s.ok()) {
      state.SkipWithError(("enqueue: " + s.toString()).c_str());
      break;
    }
  }
  if (state.error_occurred()) return;
  // Where a run's time goes: a few more runs with a per-layer profiler, outside the timed loop so
  // its clock reads do not count, split it into the case's own layer (KernelCase::layer_op, or
  // every layer but the Identity ones) and the rest: the layout changes (NCHW <-> NHWC) the
  // layout pass puts at the edges of a one-node engine, an INT8 case's input QuantizeLinear.
  // Inside a network most of those go away.
  std::map<std::string, std::string> op_of;
  for (const LayerInfo& layer : (*engine)->layers()) op_of[layer.name] = layer.op;
  LayerTimeTable table;
  c.setProfiler(&table);
  for (int64_t i = 0; i < std::min<int64_t>(state.iterations(), 20); ++i)
    if (!c.enqueue().ok()) break;
  c.setProfiler(nullptr);
  double own_ms = 0;
  for (const LayerTimeTable::Row& row : table.rows())
    if (k->layer_op.empty() ? op_of[row.layer] != "Identity" : op_of[row.layer] == k->layer_op) own_ms += row.total_ms;
  if (table.runs() > 0 && table.totalMs() > 0) {
    state.counters["layer_us"] = own_ms * 1e3 / static_cast<double>(table.runs());
    state.counters["layer_share"] = own_ms / table.totalMs();
  }
  double flops = k->flops(io->y_dims);
  state.SetItemsProcessed(state.iterations());  // items = runs (enqueues)
  // Shown as GFLOP=<rate>/s; FLOP is one run's count (k, M, G as powers of 1000).
  state.counters["GFLOP"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["FLOP"] = flops;
  state.SetLabel(label);
}

}  // namespace
}  // namespace qrt

int main(int argc, char** argv) {
  std::string threads = qrt::takeFlag(&argc, argv, "threads");
  if (threads.empty() && std::getenv("QRT_THREADS")) threads = std::getenv("QRT_THREADS");
  std::string backends = qrt::takeFlag(&argc, argv, "backends");
  if (backends.empty()) backends = "cpu,reference";
  if (!threads.empty()) {
    int n = std::atoi(threads.c_str());
    if (n < 1) {
      std::fprintf(stderr, "qrt_micro_bench: --threads wants a count >= 1, got '%s'\n", threads.c_str());
      return 2;
    }
    qrt::setNumThreads(n);
  }
  std::vector<std::string> backend_list;
  for (size_t pos = 0; pos <= backends.size();) {
    size_t comma = backends.find(',', pos);
    if (comma == std::string::npos) comma = backends.size();
    std::string b = backends.substr(pos, comma - pos);
    if (b != "cpu" && b != "reference") {
      std::fprintf(stderr, "qrt_micro_bench: --backends takes cpu and/or reference, got '%s'\n", b.c_str());
      return 2;
    }
    backend_list.push_back(b);
    pos = comma + 1;
  }

  // A deque: registered benchmarks keep pointers to the cases.
  static std::deque<qrt::test::KernelCase> cases;
  for (const qrt::test::CaseList& list : qrt::test::caseLists())
    for (qrt::test::KernelCase& k : list.cases()) cases.push_back(std::move(k));
  for (const qrt::test::KernelCase& k : cases)
    for (const std::string& b : backend_list)
      benchmark::RegisterBenchmark((k.id() + "/" + b).c_str(), qrt::runCase, &k, b)
          ->UseRealTime()  // enqueue's work runs on other threads too
          ->Unit(benchmark::kMicrosecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("qrt_threads", std::to_string(qrt::numThreads()));
  benchmark::AddCustomContext("qrt_version", qrt::versionString());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
