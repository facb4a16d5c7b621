#include "backends/cuda/gemm_tactics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "backends/cuda/conv_launch.h"
#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/conv_tactics.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/lt_gemm.h"
#include "backends/cuda/tactic_timer.h"
#include "builder/opt_shapes.h"
#include "core/logging.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

// Heuristic algorithms timed per product: past the first dozen cuBLASLt's ranking rarely hides
// a faster one, and each costs a few ms of build time.
constexpr int kMaxCandidates = 16;

bool isLtProduct(const ir::Node& n) {
  if (n.domain.empty()) return n.op_type == "Gemm" || n.op_type == "MatMul";
  return n.domain == kQrtDomain && (n.op_type == "FusedGemm" || n.op_type == "QGemm" || n.op_type == "QMatMul");
}

bool staticShapes(const ir::Node& n) {
  for (const ir::Value* v : n.inputs)
    if (v && (!v->has_shape || volume(v->dims) < 0)) return false;
  for (const ir::Value* v : n.outputs)
    if (v && (!v->has_shape || volume(v->dims) < 0)) return false;
  return true;
}

size_t typeSize(cudaDataType_t t) {
  return t == CUDA_R_16F ? 2 : t == CUDA_R_8I ? 1 : 4;
}

// Times the heuristic's algorithms of one product on scratch buffers.
class GemmTuner {
 public:
  explicit GemmTuner(DeviceContext* dev) : dev_(dev), timer_(dev) {}

  // The fastest tactic that agrees with the heuristic's first on scratch data; best->tactic
  // stays empty where none ran.
  Status time(LtGemm& lt, const std::string& who, TimingEntry* best, int* timed) {
    const LtSpec& p = lt.spec();
    best->tactic.clear();
    best->us = 0;
    std::vector<LtTactic> cands;
    QRT_RETURN_IF_ERROR(lt.heuristicTactics(kMaxCandidates, &cands));
    if (cands.empty()) return Status::Ok();
    const size_t ab = typeSize(p.ab_type), d = typeSize(p.d_type);
    QRT_RETURN_IF_ERROR(a_.reserve(static_cast<size_t>(p.elementsA()) * ab, who));
    QRT_RETURN_IF_ERROR(b_.reserve(static_cast<size_t>(p.elementsB()) * ab, who));
    QRT_RETURN_IF_ERROR(d_.reserve(static_cast<size_t>(p.elementsD()) * d, who));
    QRT_RETURN_IF_ERROR(bias_.reserve(static_cast<size_t>(p.m) * d, who));
    QRT_RETURN_IF_ERROR(ws_.reserve(std::max<size_t>(p.workspace, 1), who));
    fill(p.ab_type, a_.get(), p.elementsA());
    fill(p.ab_type, b_.get(), p.elementsB());
    if (p.bias) fill(p.d_type, bias_.get(), p.m);
    QRT_RETURN_IF_ERROR(checkCuda(cudaGetLastError(), who, ": scratch buffers"));
    const float one_f = 1.f, zero_f = 0.f;
    const int32_t one_i = 1, zero_i = 0;
    const bool ints = p.scale_type == CUDA_R_32I;
    const void* alpha = ints ? static_cast<const void*>(&one_i) : &one_f;
    const void* beta = ints ? static_cast<const void*>(&zero_i) : &zero_f;
    double best_us = 1e30;
    reference_.clear();
    for (const LtTactic& t : cands) {
      // The rebuilt algorithm is what is timed: it is what reshape will run.
      if (!lt.use(t).ok()) continue;
      if (!ints) cudaMemsetAsync(d_.get(), 0xFF, static_cast<size_t>(p.elementsD()) * d, dev_->stream);  // NaN
      double us = 0;
      Status s = timer_.time([&] { return lt.run(a_.get(), b_.get(), d_.get(), bias_.get(), alpha, beta, ws_.get()); },
                             best_us, &us, who);
      if (!s.ok()) {
        cudaGetLastError();  // an algorithm that fails to launch is not a candidate
        continue;
      }
      ++*timed;
      if (!agrees(p, who)) {
        logWarning(who, ": cuBLASLt tactic ", t.str(), " disagrees with the heuristic's first on scratch data; not a candidate");
        continue;
      }
      if (us < best_us) {
        best_us = us;
        best->tactic = t.str();
        best->us = us;
      }
    }
    return Status::Ok();
  }

 private:
  void fill(cudaDataType_t t, void* p, int64_t n) {
    if (t == CUDA_R_8I) launch::fillInt8Pattern(p, n, dev_->stream);
    else launch::fillPattern(t == CUDA_R_16F ? DataType::kHalf : DataType::kFloat, p, n, dev_->stream);
  }

  // Whether D (after a candidate ran) matches the first candidate's D, sampled at the buffer's
  // start and end (sampleOutput): int32 exactly, FP32 within 1e-4 relative L2 (split-K sums in
  // another order), TF32 and FP16 within 1e-2. A first candidate that writes non-finite values is
  // no reference (the next one is).
  bool agrees(const LtSpec& p, const std::string& who) {
    std::vector<uint8_t> raw;
    if (!sampleOutput(dev_, d_.get(), p.elementsD(), typeSize(p.d_type), &raw)) return false;
    const bool ints = p.d_type == CUDA_R_32I, half = p.d_type == CUDA_R_16F;
    if (reference_.empty()) {
      if (!ints && !std::isfinite(sampledRelativeError(raw, raw, half))) {
        logWarning(who, ": a cuBLASLt algorithm wrote non-finite values on scratch data");
        return false;
      }
      reference_ = std::move(raw);
      return true;
    }
    if (ints) return raw == reference_;
    const double tol = p.compute == CUBLAS_COMPUTE_32F && p.ab_type == CUDA_R_32F ? 1e-4 : 1e-2;
    return sampledRelativeError(raw, reference_, half) <= tol;
  }

  DeviceContext* dev_;
  TacticTimer timer_;
  DeviceBuffer a_, b_, d_, bias_, ws_;
  std::vector<uint8_t> reference_;  // the first agreeing candidate's raw sample
};

}  // namespace

Status chooseGemmTactics(ir::Graph& g, const BuilderConfig& config, const DeviceInfo& info,
                         const std::map<std::string, Dims>& opt, std::map<std::string, std::string>& metadata) {
  if (heuristicTactics(config)) return Status::Ok();
  // A product with dynamic dims is timed at the opt shapes when the config has them (as the
  // convolutions are: conv_tactics.cpp); without them it keeps cuBLASLt's heuristic.
  std::vector<ir::Node*> nodes;
  for (const auto& n : g.nodes())
    if (n->backend == "cuda" && isLtProduct(*n) && (staticShapes(*n) || staticAtOptShapes(*n, opt)))
      nodes.push_back(n.get());
  if (nodes.empty()) return Status::Ok();

  const auto start = std::chrono::steady_clock::now();
  const std::string path = config.timingCachePath();
  std::map<std::string, TimingEntry> cache;
  if (!path.empty()) QRT_RETURN_IF_ERROR(readTimingCache(path, &cache));
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<DeviceContext> dev, DeviceContext::create(config.getFlag(BuilderFlag::kTF32)));
  GemmTuner tuner(dev.get());
  const std::string where =
      " | " + archName(info.sm) + " " + info.name + " cublasLt " + std::to_string(info.cublaslt);
  int products = 0, from_cache = 0, repeats = 0, timed_layers = 0, candidates = 0, at_opt = 0;
  std::set<std::string> seen;  // keys met in this build
  for (ir::Node* n : nodes) {
    // Declared before the kernel below, which reads the node: its dims are the opt shape's until
    // the kernel is gone.
    const ScopedOptDims opt_dims(*n, opt);
    const std::string who = n->describe();
    n->attrs.erase(kAttrTactic);  // the kernel below plans cuBLASLt's heuristic: the reference
    const CudaKernelEntry* entry = findKernel(*n);
    if (!entry) continue;
    auto kernel = entry->create(*n, dev.get());
    if (!kernel.ok()) continue;
    std::vector<TensorView> in(n->inputs.size()), out(n->outputs.size());
    for (size_t i = 0; i < in.size(); ++i)
      if (n->inputs[i]) in[i] = TensorView{n->inputs[i]->dtype, n->inputs[i]->dims, nullptr};
    for (size_t i = 0; i < out.size(); ++i)
      if (n->outputs[i]) out[i] = TensorView{n->outputs[i]->dtype, n->outputs[i]->dims, nullptr};
    if (!(*kernel)->reshape(in, out).ok()) {  // the engine reports it at its own reshape
      cudaGetLastError();
      continue;
    }
    auto* tunable = dynamic_cast<LtGemmKernel*>(kernel->get());
    LtGemm* lt = tunable ? tunable->ltGemm() : nullptr;
    if (!lt) continue;  // not on cuBLASLt at these shapes (QGemm's plain kernel)
    ++products;
    at_opt += opt_dims.replaced() ? 1 : 0;
    const std::string sig = lt->spec().signature();
    const std::string key = n->op_type + " " + sig + where;
    auto it = cache.find(key);
    bool usable = it != cache.end();
    if (usable && !seen.count(key)) {
      // A cached tactic must still rebuild here.
      LtTactic t;
      usable = LtTactic::parse(it->second.tactic, &t) && lt->use(t).ok();
      if (!usable) logWarning("timing cache: the tactic of ", who, " (", it->second.tactic, ") does not run here; timing again");
    }
    const bool repeat = !seen.insert(key).second;
    if (repeat && usable) {
      ++repeats;
    } else if (usable) {
      ++from_cache;
    } else {
      TimingEntry best;
      int timed = 0;
      QRT_RETURN_IF_ERROR(tuner.time(*lt, who, &best, &timed));
      candidates += timed;
      ++timed_layers;
      if (best.tactic.empty()) continue;  // nothing ran: reshape keeps the heuristic's first
      it = cache.insert_or_assign(key, best).first;
    }
    n->attrs[kAttrTactic] = ir::Attribute::String(sig + "|" + it->second.tactic);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  logInfo("CUDA GEMM tactics: ", products, " cuBLASLt products, ", timed_layers, " timed (", candidates,
          " algorithms), ", from_cache, " from the timing cache, ", repeats, " repeats, ", at_opt,
          " at the opt shapes; ", static_cast<int>(secs * 1000), " ms");
  metadata["cuda_gemm_tactics"] = strCat(products, " matrix products, ", timed_layers, " timed, ", from_cache, " cached") +
                                  (at_opt > 0 ? strCat(", ", at_opt, " at the opt shapes") : "");
  if (!path.empty() && timed_layers > 0) QRT_RETURN_IF_ERROR(writeTimingCache(path, cache));
  return Status::Ok();
}

}  // namespace qrt::cuda
