#include "backends/cuda/conv_tactics.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/conv_launch.h"
#include "backends/cuda/own_qconv.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda/tactic_timer.h"
#include "builder/opt_shapes.h"
#include "core/file_util.h"
#include "core/logging.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr const char kCacheHeader[] = "# qrt timing cache v1";
constexpr size_t kMaxCandidates = 16;  // heuristic configurations per fusion level (plus every other engine)

// Build time (session 14, H200, ResNet-50 INT8 at batch 256): building cuDNN's plans took 2.6-14 s
// a layer, ~95% of the 176 s build (running the candidates 0.1-0.3 s, qrt's own kernels ~0.4 s); the
// slowest plans are the runtime-compiled engines' (up to 3.9 s each). Two switches to measure what
// they buy: QRT_CUDA_CONV_CANDIDATES=<n> caps the heuristics' configurations per fusion level (default
// 16), QRT_CUDA_CONV_RTC=off leaves their runtime-compiled picks out but for the first; with
// QRT_CUDA_TACTICS_LOG=1 each plan's build time and run time is logged.
// QRT_CUDA_TUNE_THREADS=<n> (n > 1): the candidates' plans of a layer are built on n host threads at
// once, each with its own cuDNN handle and operation graph, then timed one by one as before (same
// candidates, same timings: only the wall time of building changes). Off by default until measured
// (written in session 14 after the device time).
int tuneThreads() {
  const char* v = std::getenv("QRT_CUDA_TUNE_THREADS");
  const long n = v ? std::strtol(v, nullptr, 10) : 1;
  return static_cast<int>(std::min<long>(std::max<long>(n, 1), 64));
}

size_t maxCandidates() {
  const char* v = std::getenv("QRT_CUDA_CONV_CANDIDATES");
  const long n = v ? std::strtol(v, nullptr, 10) : 0;
  return n > 0 ? static_cast<size_t>(n) : kMaxCandidates;
}

bool isConv(const ir::Node& n) {
  return (n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == kQrtDomain);
}

// A tactic of qrt's own kernels (depthwise, stem, int8 implicit GEMM) or of the cuBLASLt path: no
// cuDNN plan to rebuild.
bool ownKernel(const std::string& t) {
  return t == "dw" || t == "stem" || t.rfind("ig", 0) == 0 || t.rfind("lt:", 0) == 0;
}

bool isQConv(const ir::Node& n) {
  return n.op_type == "QConv" && n.domain == kQrtDomain && n.hasInput(0) && n.inputs[0]->dtype == DataType::kInt8 &&
         n.inputs[0]->dims.size() == 4 && channelsLast(n);
}

float constantFloat(const ir::Node& n, size_t i, float def) {
  if (!n.hasInput(i) || !n.inputs[i]->isConstant() || n.inputs[i]->dtype != DataType::kFloat) return def;
  return static_cast<const float*>(n.inputs[i]->constant->data())[0];
}

void fillScratch(DataType t, void* p, int64_t n, cudaStream_t s) {
  if (t == DataType::kInt8) launch::fillInt8Pattern(p, n, s);
  else launch::fillPattern(t, p, n, s);
}

bool staticShapes(const ir::Node& n) {
  for (const ir::Value* v : n.inputs)
    if (v && (!v->has_shape || volume(v->dims) < 0)) return false;
  for (const ir::Value* v : n.outputs)
    if (v && (!v->has_shape || volume(v->dims) < 0)) return false;
  return true;
}

size_t bytesOf(const Dims& d, DataType t) { return static_cast<size_t>(volume(d)) * dataTypeSize(t); }

// The residual's dtype: the output's, or QConv's int8 z.
DataType zType(const ConvProblem& p) { return p.z_dtype != DataType::kUndefined ? p.z_dtype : p.out_dtype; }

// Times the candidates of one problem on scratch buffers; returns the fastest, "legacy" where
// no graph plan builds.
class Tuner {
 public:
  explicit Tuner(DeviceContext* dev) : dev_(dev) {}
  ~Tuner() {
    for (cudnnHandle_t h : handles_) cudnnDestroy(h);
  }
  Tuner(const Tuner&) = delete;
  Tuner& operator=(const Tuner&) = delete;

  // Where the last time() call's wall time went (QRT_CUDA_TACTICS_LOG): building cuDNN's plans
  // (runtime-fusion engines compile their kernels then), running them, and qrt's own kernels and
  // the legacy API's search (setup and runs).
  struct Cost {
    double plan_build_ms = 0, plan_run_ms = 0, other_ms = 0;
    double slowest_build_ms = 0;
    std::string slowest_build;  // the tactic whose plan took longest to build
  };
  const Cost& cost() const { return cost_; }

  Status time(const ir::Node& node, const ConvProblem& p, const EpilogueActivation& act, const std::string& who,
              TimingEntry* best, int* timed) {
    best->tactic = "legacy";
    best->us = 0;
    cost_ = Cost{};
    double best_us = 1e30;
    const bool epilogue = p.bias || p.z || p.act != ConvProblem::Act::kNone;
    const bool log = envIs("QRT_CUDA_TACTICS_LOG", "1");
    const int threads = tuneThreads();
    for (int64_t c : padOptions(p)) {
      const ConvProblem q = paddedProblem(p, c);
      pad_ = ChannelPad{};
      if (c > 0) pad_.plan(p.x, c, dataTypeSize(p.dtype));
      QRT_RETURN_IF_ERROR(prepare(p, q, who));
      // Each plan's output is checked against the first plan that runs for this padding (the
      // heuristics' pick, what an untuned engine runs) on the same scratch data: a tactic that
      // computes something else is never stored, however fast.
      std::vector<uint8_t> reference;
      for (Fusion f : {Fusion::kFull, Fusion::kConvOnly}) {
        if (f == Fusion::kConvOnly && !epilogue) break;
        ConvGraph g;
        Status s = g.build(dev_->cudnn, q, f, who);
        if (!s.ok()) {
          if (s.code() != StatusCode::kUnsupported) return s;
          continue;
        }
        std::vector<Tactic> cands;
        // Every engine, not only the heuristics' picks, for few input channels (conv1), where
        // the heuristics' ranking is poorest; elsewhere it costs build time for little.
        QRT_RETURN_IF_ERROR(g.candidates(&cands, maxCandidates(), p.x[1] < 16, envIs("QRT_CUDA_CONV_RTC", "off")));
        for (Tactic& t : cands) t.pad_c = c;
        // The plans built in parallel first (QRT_CUDA_TUNE_THREADS), else each just before its timing.
        std::vector<Prebuilt> pre;
        std::vector<std::unique_ptr<ConvGraph>> graphs;  // the workers' graphs, alive while their plans are
        if (threads > 1 && cands.size() > 1) {
          const auto wall = Clock::now();
          QRT_RETURN_IF_ERROR(prebuild(q, f, cands, threads, who, &pre, &graphs));
          cost_.plan_build_ms += msSince(wall);
        }
        for (size_t i = 0; i < cands.size(); ++i) {
          const Tactic& t = cands[i];
          ConvPlan own;
          ConvPlan& plan = pre.empty() ? own : pre[i].plan;
          double build_ms = 0;
          bool built = false;
          if (pre.empty()) {
            const auto build_start = Clock::now();
            built = plan.build(dev_->cudnn, g, t, who).ok();
            build_ms = msSince(build_start);
            cost_.plan_build_ms += build_ms;
          } else {
            built = pre[i].ok;
            build_ms = pre[i].ms;
          }
          if (build_ms > cost_.slowest_build_ms) {
            cost_.slowest_build_ms = build_ms;
            cost_.slowest_build = t.str();
          }
          if (!built || plan.workspace() > kMaxConvWorkspace) {
            if (log)
              std::fprintf(stderr, "[tactics] %s: plan %s%s: %s after %.0f ms\n", who.c_str(), t.str().c_str(),
                           t.compiled ? " (runtime-compiled)" : "", built ? "workspace too large" : "did not build",
                           build_ms);
            continue;
          }
          QRT_RETURN_IF_ERROR(ws_.reserve(static_cast<size_t>(plan.workspace()), who));
          const auto run_start = Clock::now();
          double us = 0;
          if (p.dtype != DataType::kInt8)  // NaN: a plan that writes nothing cannot pass as the last one's output
            cudaMemsetAsync(y_.get(), 0xFF, bytesOf(p.y, p.out_dtype), dev_->stream);
          Status r = run(plan, q, act, f, best_us, &us, who);
          cost_.plan_run_ms += msSince(run_start);
          if (!r.ok()) {
            cudaGetLastError();  // a plan that fails to launch is not a candidate
            continue;
          }
          ++*timed;
          if (log)
            std::fprintf(stderr, "[tactics] %s: plan %s%s: built in %.0f ms, %.1f us\n", who.c_str(), t.str().c_str(),
                         t.compiled ? " (runtime-compiled)" : "", build_ms, us);
          if (!agrees(p, &reference)) {
            logWarning(who, ": tactic ", t.str(), " disagrees with cuDNN's heuristic plan on scratch data; not a candidate");
            continue;
          }
          if (us < best_us) {
            best_us = us;
            best->tactic = t.str();
            best->us = us;
          }
        }
      }
    }
    // The legacy API competes too (as TensorRT times every tactic source): its timed algorithm
    // search, then its run timed like the plans.
    const auto others_start = Clock::now();
    const char* only = std::getenv("QRT_CUDA_CONV");
    if (p.dtype != DataType::kInt8 && !(only && std::strcmp(only, "graph") == 0)) {
      std::string tactic;
      double us = 0;
      Status s = legacyConvCandidate(
          node, dev_, [&](const std::function<Status()>& work, double* t) { return timeWork(work, best_us, t, who); },
          &tactic, &us);
      if (!s.ok()) {
        cudaGetLastError();
      } else {
        ++*timed;
        if (us < best_us) {
          best_us = us;
          best->tactic = tactic;
          best->us = us;
        }
      }
    }
    // qrt's own kernels where the layer is one they compute; `force` names the environment
    // variable whose "on" makes the kernel win (tests).
    const ConvTimer timer = [&](const std::function<Status()>& work, double* t) {
      return timeWork(work, best_us, t, who);
    };
    auto own = [&](Status (*candidate)(const ir::Node&, DeviceContext*, const ConvTimer&, std::string*, double*),
                   const char* force) {
      std::string tactic;
      double us = 0;
      Status s = candidate(node, dev_, timer, &tactic, &us);
      // QRT_CUDA_TACTICS_LOG=1: every own candidate's outcome against the best so far (stderr).
      if (log)
        std::fprintf(stderr, "[tactics] %s: %s: %s\n", who.c_str(), force,
                     s.ok() ? strCat(tactic, " ", us, " us; best so far ", best->tactic, " ", best_us, " us").c_str()
                            : s.message().c_str());
      if (!s.ok()) {
        cudaGetLastError();
        if (s.code() != StatusCode::kUnsupported) logWarning(s.message(), "; not a tactic");
        return;
      }
      ++*timed;
      const char* f = std::getenv(force);
      if (us < best_us || (f && std::strcmp(f, "on") == 0)) {
        best_us = us;
        best->tactic = tactic;
        best->us = us;
      }
    };
    // The depthwise kernels (depthwise.cu; int8: qdepthwise.cu), not with QConv's int8 residual.
    if (p.dtype != DataType::kInt8) own(depthwiseConvCandidate, "QRT_CUDA_DEPTHWISE");
    else if (!p.z) own(qdepthwiseConvCandidate, "QRT_CUDA_DEPTHWISE");
    // The int8 implicit-GEMM kernel (qconv_igemm.cu) for dense layers, residual or not.
    if (p.dtype == DataType::kInt8) own(qconvIgemmCandidate, "QRT_CUDA_IGEMM");
    // Pointwise int8 layers as one cuBLASLt int8 GEMM with QConv's epilogue (qconv_lt.cpp).
    if (p.dtype == DataType::kInt8 && p.w.size() == 4 && p.w[2] == 1 && p.w[3] == 1)
      own(qconvLtCandidate, "QRT_CUDA_QCONV_LT");
    // The stem kernel (stem_conv.cu) for few-channel FP16 layers.
    if (p.dtype == DataType::kHalf && p.x[1] <= 4) own(stemConvCandidate, "QRT_CUDA_STEM");
    // Pointwise layers as one cuBLASLt GEMM with the bias, residual and ReLU in its epilogue.
    if (p.dtype != DataType::kInt8 && p.nhwc && p.w.size() == 4 && p.w[2] == 1 && p.w[3] == 1)
      own(ltConvCandidate, "QRT_CUDA_CONV_LT");
    cost_.other_ms = msSince(others_start);
    return Status::Ok();
  }

 private:
  // Scratch buffers for `q` (the problem as run, padded or not; `p` as the node sees it).
  Status prepare(const ConvProblem& p, const ConvProblem& q, const std::string& who) {
    const DataType bias_t = p.dtype == DataType::kInt8 ? DataType::kFloat : p.dtype;
    struct B {
      DeviceBuffer* buf;
      size_t bytes;
      DataType t;
    } bufs[] = {{&x_, bytesOf(q.x, p.dtype), p.dtype},
                {&x_raw_, pad_.to ? bytesOf(p.x, p.dtype) : 0, p.dtype},
                {&w_, bytesOf(q.w, p.dtype), p.dtype},
                // INT8: a conv-only plan writes its accumulators as fp32 whatever the output type.
                {&y_, bytesOf(p.y, p.dtype == DataType::kInt8 ? DataType::kFloat : p.out_dtype), p.out_dtype},
                {&z_, p.z ? bytesOf(p.y, zType(p)) : 0, zType(p)},
                {&yq_, p.dtype == DataType::kInt8 ? bytesOf(p.y, DataType::kFloat) : 0, DataType::kFloat},
                {&bias_, static_cast<size_t>(p.y[1]) * dataTypeSize(bias_t), bias_t},
                {&scale_, static_cast<size_t>(p.y[1]) * sizeof(float), DataType::kFloat}};
    for (const B& b : bufs) {
      if (b.bytes == 0) continue;
      QRT_RETURN_IF_ERROR(b.buf->reserve(b.bytes, who));
      fillScratch(b.t, b.buf->get(), static_cast<int64_t>(b.bytes / dataTypeSize(b.t)), dev_->stream);
    }
    return checkCuda(cudaGetLastError(), who, ": scratch buffers");
  }

  // Whether y_ (after a plan ran) matches `reference` (the first plan's output sample, kept
  // raw); float and half outputs only, sampled at the buffer's start and end (build time stays
  // bounded).
  bool agrees(const ConvProblem& p, std::vector<uint8_t>* reference) {
    if (p.dtype == DataType::kInt8 || (p.out_dtype != DataType::kFloat && p.out_dtype != DataType::kHalf)) return true;
    std::vector<uint8_t> raw;
    if (!sampleOutput(dev_, y_.get(), volume(p.y), dataTypeSize(p.out_dtype), &raw)) return false;
    if (reference->empty()) {
      *reference = std::move(raw);
      return true;
    }
    // FP16 (and TF32) engines round differently: 1e-2 relative; strict FP32 1e-4.
    const double tol = p.dtype == DataType::kFloat && !p.tf32 ? 1e-4 : 1e-2;
    return sampledRelativeError(raw, *reference, p.out_dtype == DataType::kHalf) <= tol;
  }

  Status once(ConvPlan& plan, const ConvProblem& p, const EpilogueActivation& act, Fusion f) {
    const bool full = f == Fusion::kFull;
    const void* bias = p.bias ? bias_.get() : nullptr;
    const void* z = p.z ? z_.get() : nullptr;
    const void* scale = p.dtype == DataType::kInt8 ? scale_.get() : nullptr;
    if (pad_.to) pad_.run(x_raw_.get(), x_.get(), dev_->stream);
    QRT_RETURN_IF_ERROR(plan.execute(x_.get(), w_.get(), full ? bias : nullptr, full ? z : nullptr,
                                     full ? scale : nullptr, y_.get(), ws_.get(),
                                     full && p.z_dtype == DataType::kInt8 ? scale_.get() : nullptr));
    if (!full && p.dtype == DataType::kInt8) {  // the requantize kernel, as QConvKernel runs it
      launch::requantize(y_.as<float>(), yq_.get(), p.out_dtype, scale_.as<float>(), bias_.as<float>(),
                         volume(p.y), p.y[1], launch::QAct::kRelu, 0.f, 0.f, 1.f, dev_->stream,
                         p.z ? z_.as<int8_t>() : nullptr, 0.5f);
    } else if (!full) {  // qrt's epilogue kernel, as ConvKernel runs it
      int64_t inner = 1;
      for (size_t i = 2; i < p.y.size(); ++i) inner *= p.y[i];
      if (bias || z || act.on)
        launch::biasActivation(p.dtype, y_.get(), bias, z, volume(p.y), p.y[1], inner, p.nhwc, act.on, act.op, act.a,
                               act.b, dev_->stream);
    }
    return Status::Ok();
  }

  // GPU time per run, as TacticTimer measures it (CUDA-graph replays; tactic_timer.h).
  Status run(ConvPlan& plan, const ConvProblem& p, const EpilogueActivation& act, Fusion f, double best_us, double* us,
             const std::string& who) {
    return timeWork([&] { return once(plan, p, act, f); }, best_us, us, who);
  }

  Status timeWork(const std::function<Status()>& work, double best_us, double* us, const std::string& who) {
    return timer_.time(work, best_us, us, who);
  }

  using Clock = std::chrono::steady_clock;
  static double msSince(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  }

  // A plan built by prebuild: ok where it built; ms its own build time (on its thread).
  struct Prebuilt {
    ConvPlan plan;
    bool ok = false;
    double ms = 0;
  };

  // Builds the plans of `cands` (operation graph of q at fusion f) on `threads` host threads, each
  // with its own cuDNN handle (one is not to be used by two threads at once) bound to the tuner's
  // stream, and its own graph (kept in *graphs while the plans live). Where a worker's graph does not
  // build, the other workers take its candidates; a candidate no worker builds stays !ok.
  Status prebuild(const ConvProblem& q, Fusion f, const std::vector<Tactic>& cands, int threads,
                  const std::string& who, std::vector<Prebuilt>* out, std::vector<std::unique_ptr<ConvGraph>>* graphs) {
    threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), cands.size()));
    while (handles_.size() < static_cast<size_t>(threads)) {
      cudnnHandle_t h = nullptr;
      if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) return internalError(who, ": cudnnCreate for the tuner's threads");
      handles_.push_back(h);
    }
    for (int k = 0; k < threads; ++k)
      if (cudnnSetStream(handles_[static_cast<size_t>(k)], dev_->stream) != CUDNN_STATUS_SUCCESS)
        return internalError(who, ": cudnnSetStream for the tuner's threads");
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return internalError(who, ": cudaGetDevice");
    *out = std::vector<Prebuilt>(cands.size());
    graphs->clear();
    for (int k = 0; k < threads; ++k) graphs->push_back(std::make_unique<ConvGraph>());
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; ++k)
      pool.emplace_back([&, k] {
        cudaSetDevice(device);  // the current device is per thread
        cudnnHandle_t h = handles_[static_cast<size_t>(k)];
        ConvGraph& g = *(*graphs)[static_cast<size_t>(k)];
        if (!g.build(h, q, f, who).ok()) return;
        for (size_t i; (i = next.fetch_add(1)) < cands.size();) {
          const auto start = Clock::now();
          (*out)[i].ok = (*out)[i].plan.build(h, g, cands[i], who).ok();
          (*out)[i].ms = msSince(start);
        }
      });
    for (std::thread& t : pool) t.join();
    return Status::Ok();
  }

  DeviceContext* dev_;
  std::vector<cudnnHandle_t> handles_;  // prebuild's threads' handles
  Cost cost_;
  TacticTimer timer_{dev_};
  DeviceBuffer x_, x_raw_, w_, y_, yq_, z_, bias_, scale_, ws_;
  ChannelPad pad_;
};

}  // namespace

Status readTimingCache(const std::string& path, std::map<std::string, TimingEntry>* entries) {
  auto bytes = readFileBytes(path);
  if (!bytes.ok()) {
    if (bytes.status().code() == StatusCode::kNotFound) return Status::Ok();  // the first build writes it
    return bytes.status().withContext("timing cache");
  }
  std::string text(bytes->begin(), bytes->end());
  if (text.empty()) return Status::Ok();
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  if (line != kCacheHeader)
    return invalidArgument("timing cache '", path, "' is not a qrt timing cache (its first line is not '", kCacheHeader,
                           "'): delete it or name another file");
  int line_no = 1, bad = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    const size_t t1 = line.find('\t'), t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    TimingEntry e;
    char* end = nullptr;
    if (t2 != std::string::npos) e.us = std::strtod(line.c_str() + t2 + 1, &end);
    if (t2 == std::string::npos || !end || *end != '\0' || t1 == 0 || t2 == t1 + 1) {
      if (bad++ == 0) logWarning("timing cache '", path, "': line ", line_no, " is malformed; dropping it");
      continue;
    }
    e.tactic = line.substr(t1 + 1, t2 - t1 - 1);
    (*entries)[line.substr(0, t1)] = e;
  }
  if (bad > 1) logWarning("timing cache '", path, "': ", bad, " malformed lines dropped");
  return Status::Ok();
}

Status writeTimingCache(const std::string& path, const std::map<std::string, TimingEntry>& entries) {
  std::ostringstream o;
  o << kCacheHeader << "\n";
  for (const auto& [key, e] : entries) o << key << "\t" << e.tactic << "\t" << e.us << "\n";
  const std::string text = o.str();
  return writeFileAtomic(path, text.data(), text.size()).withContext("timing cache");
}

std::string convCacheWhere(const DeviceInfo& info) {
  return " | " + archName(info.sm) + " " + info.name + " cudnn " + cudnnVersionName(info.cudnn);
}

bool heuristicTactics(const BuilderConfig& config) {
  const char* env = std::getenv("QRT_CUDA_TACTICS");
  return config.timingRuns() == 0 || (env && std::strcmp(env, "heuristic") == 0);
}

Status chooseConvTactics(ir::Graph& g, const BuilderConfig& config, const DeviceInfo& info,
                         const std::map<std::string, Dims>& opt, std::map<std::string, std::string>& metadata) {
  if (heuristicTactics(config)) return Status::Ok();
  // A convolution with dynamic dims is timed at the opt shapes when the config has them (its
  // tactic then carries the opt shape's signature: other shapes keep the heuristic's plan);
  // without them it is not timed.
  std::vector<ir::Node*> convs;
  for (const auto& n : g.nodes())
    if (n->backend == "cuda" && n->hasInput(1) && (staticShapes(*n) || staticAtOptShapes(*n, opt)) &&
        ((isConv(*n) && (n->inputs[0]->dtype == DataType::kFloat || n->inputs[0]->dtype == DataType::kHalf)) ||
         isQConv(*n)))
      convs.push_back(n.get());
  if (convs.empty()) return Status::Ok();
  g.rebuildUses();  // stemSavesMore follows the stems' readers and producers

  const auto start = std::chrono::steady_clock::now();
  const std::string path = config.timingCachePath();
  std::map<std::string, TimingEntry> cache;
  if (!path.empty()) QRT_RETURN_IF_ERROR(readTimingCache(path, &cache));
  const size_t cache_size = cache.size();
  const bool tf32 = config.getFlag(BuilderFlag::kTF32);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<DeviceContext> dev, DeviceContext::create(tf32));
  Tuner tuner(dev.get());
  const std::string where = convCacheWhere(info);
  int from_cache = 0, repeats = 0, timed_layers = 0, candidates = 0, legacy = 0, depthwise = 0, stem = 0, igemm = 0,
      lt = 0, at_opt = 0;
  std::set<std::string> seen;  // signatures met in this build
  for (ir::Node* n : convs) {
    const ScopedOptDims opt_dims(*n, opt);  // the node's dims are the opt shape's until the next one
    at_opt += opt_dims.replaced() ? 1 : 0;
    const std::string who = n->describe();
    QRT_ASSIGN_OR_RETURN(WindowAttrs attrs, readWindowAttrs(*n));
    EpilogueActivation act;
    if (n->op_type == "FusedConv" || n->op_type == "QConv") {
      QRT_ASSIGN_OR_RETURN(act, readEpilogueActivation(*n));
    }
    const bool nhwc = channelsLast(*n) && n->inputs[0]->dims.size() == 4;
    const bool z_same = n->hasInput(3) && !n->inputs[3]->isConstant() && n->inputs[3]->dims == n->outputs[0]->dims;
    ConvProblem p;
    if (isQConv(*n)) {
      QRT_ASSIGN_OR_RETURN(p, qconvProblem(attrs, act, n->inputs[0]->dims, n->inputs[1]->dims, n->outputs[0]->dims,
                                           n->outputs[0]->dtype, constantFloat(*n, 5, 1.f), n->hasInput(6)));
    } else {
      QRT_ASSIGN_OR_RETURN(p, convProblem(attrs, act, n->inputs[0]->dtype, n->outputs[0]->dtype, nhwc, tf32,
                                          n->inputs[0]->dims, n->inputs[1]->dims, n->outputs[0]->dims, n->hasInput(2),
                                          z_same));
    }
    const std::string sig = p.signature();
    const std::string key = sig + where;
    auto it = cache.find(key);
    bool usable = it != cache.end();
    if (usable && !seen.count(key) && it->second.tactic.rfind("legacy", 0) != 0 && !ownKernel(it->second.tactic)) {
      // A cached tactic must still build here (another cuDNN minor may have dropped the engine).
      Tactic t;
      ConvGraph cg;
      ConvPlan plan;
      usable = Tactic::parse(it->second.tactic, &t) && cg.build(dev->cudnn, p, t.fusion, who).ok() &&
               plan.build(dev->cudnn, cg, t, who).ok();
      if (!usable) logWarning("timing cache: the tactic of ", who, " (", it->second.tactic, ") does not build here; timing again");
    }
    const bool repeat = !seen.insert(key).second;
    if (repeat) {
      ++repeats;
    } else if (usable) {
      ++from_cache;
    } else {
      TimingEntry best;
      int timed = 0;
      const auto layer_start = std::chrono::steady_clock::now();
      QRT_RETURN_IF_ERROR(tuner.time(*n, p, act, who, &best, &timed));
      // QRT_CUDA_TACTICS_LOG=1: where the build's time goes, layer by layer (stderr).
      if (envIs("QRT_CUDA_TACTICS_LOG", "1")) {
        std::fprintf(stderr, "[tactics] %s: %d candidates timed, %s %.1f us chosen; %.0f ms\n", who.c_str(), timed,
                     best.tactic.c_str(), best.us,
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - layer_start).count());
        const Tuner::Cost& c = tuner.cost();
        std::fprintf(stderr,
                     "[tactics] %s: time: cuDNN plans built %.0f ms (slowest %.0f ms: %s), run %.0f ms; own kernels "
                     "and the legacy API %.0f ms\n",
                     who.c_str(), c.plan_build_ms, c.slowest_build_ms,
                     c.slowest_build.empty() ? "-" : c.slowest_build.c_str(), c.plan_run_ms, c.other_ms);
      }
      candidates += timed;
      ++timed_layers;
      it = cache.insert_or_assign(key, best).first;
    }
    std::string tactic = it->second.tactic;
    // A stem convolution whose other tactic needs the engine input's Cast and NHWC copy (and an
    // INT8 engine's QuantizeLinear behind it) is weighed again with those kernels (stem_choice.cpp).
    if (tactic != "stem" && n->op_type == "FusedConv" && p.dtype == DataType::kHalf && p.x[1] <= 4) {
      std::string why;
      QRT_ASSIGN_OR_RETURN(bool stem_wins, stemSavesMore(g, *n, dev.get(), it->second.us, tactic, &why));
      if (!why.empty()) logInfo("CUDA tactics: ", who, ": ", why);
      if (stem_wins) tactic = "stem";
    }
    if (tactic.rfind("legacy", 0) == 0) ++legacy;
    if (tactic == "dw") ++depthwise;
    if (tactic == "stem") ++stem;
    if (tactic.rfind("ig", 0) == 0) ++igemm;
    if (tactic.rfind("lt:", 0) == 0) ++lt;
    n->attrs[kAttrTactic] = ir::Attribute::String(sig + "|" + tactic);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  logInfo("CUDA tactics: ", convs.size(), " convolutions, ", timed_layers, " timed (", candidates, " plans), ", from_cache,
          " from the timing cache, ", repeats, " repeats, ", legacy, " on the legacy API, ", depthwise,
          " on qrt's depthwise kernel, ", stem, " on its stem kernel, ", igemm, " on its int8 implicit GEMM, ", lt, " on cuBLASLt, ", at_opt, " at the opt shapes; ",
          static_cast<int>(secs * 1000), " ms");
  metadata["cuda_tactics"] = strCat(convs.size(), " convolutions, ", timed_layers, " timed, ", from_cache, " cached") +
                             (at_opt > 0 ? strCat(", ", at_opt, " at the opt shapes") : "");
  if (!path.empty() && cache.size() >= cache_size) QRT_RETURN_IF_ERROR(writeTimingCache(path, cache));
  return Status::Ok();
}

}  // namespace qrt::cuda
