// After the tactics: a residual block's downsample convolution computed inside its conv3, as
// TensorRT fuses a block's shortcut. The downsample QConv (a 1x1 int8 convolution without an
// activation, int8 out), whose only reader is a QConv's residual z, becomes inputs 8-12 of that
// QConv (own_qconv.h: kDsX .. kDsWScale; strides in kAttrDsStrides), which drops input 6:
//
//   z = QConv(x_in, w2, b2, xs2, ws2, z_scale)              (downsample)
//   y = QConv(x, w, b, xs, ws, y_scale, z, z_scale)          (conv3 + Add [+ Relu] [+ Q])
//   => y = QConv(x, w, b, xs, ws, y_scale, -, z_scale, x_in, w2, b2, xs2, ws2)
//
// The implicit-GEMM kernel computes the downsample's product per tile first and its int8 epilogue
// into the shared-memory residual tile (qconv_igemm_launch.h, IgemmEpilogue::ds_x): the values of
// the two kernels, without writing z to memory and reading it back (ResNet-50 at batch 256: 411 MB
// each way in layer1, 770 MB over the four stages). The residual QConv must be on a tiled kernel
// of the implicit GEMM (not a persistent one; the fused node keeps its tactic). The fused kernel
// is timed against the two (each on its tuned plan) on scratch data and fuses only if faster;
// where nothing can be timed, a pair that the tuner put on the implicit GEMM both fuses (the fused
// kernel is their work less z's traffic and a launch), and a downsample that cuDNN or cuBLASLt
// kept does not. On by default; QRT_CUDA_DS_FUSE=off keeps every downsample apart, =always fuses
// without timing (tests). H100, ResNet-50 at batch 256: layer1.0 357 us fused against 229 + 170,
// layer2.0 237 against 133 + 115; layer3.0 and layer4.0 (14x14, 7x7) stay apart: there the two
// kernels' extra launch costs less than the fused kernel's serial downsample product. With a timing
// cache the verdict is stored under "dsfuse <residual QConv's tactic> + <downsample's tactic>" (both
// "<signature>|<tactic>", so a change of shape or plan is another key) and the device, as "fused" or
// "apart" with the fused kernel's time: a rebuild from the cache times nothing here (ResNet-50 INT8 at
// batch 256 rebuilt from the cache took 19 s on an H100 in session 8, FP16 0.7 s; the four pairs'
// timing, redone each build, is part of that: not yet measured apart).
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/own_qconv.h"
#include "backends/cuda/qconv_igemm_launch.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda/tactic_timer.h"
#include "core/logging.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt::cuda {

namespace {

bool cudaQConv(const ir::Node& n) {
  return n.op_type == "QConv" && n.domain == kQrtDomain && n.backend == "cuda" && n.outputs.size() == 1 &&
         n.outputs[0] && n.outputs[0]->dtype == DataType::kInt8;
}

// Whether the node's stored tactic is a tiled (not persistent) kernel of the implicit GEMM: ig0..ig6
// (mma.sync) or the wgmma tiles.
bool plainIgemmTactic(const ir::Node& n) {
  const std::string t = n.attrString(kAttrTactic, "");
  const size_t bar = t.rfind('|');
  if (bar == std::string::npos) return false;
  const int tile = launch::igemmTileOf(std::string_view(t).substr(bar + 1));
  return tile >= 0 && !launch::kIgemmTiles[tile].persistent;
}

bool allEqual(const std::vector<int64_t>& v, int64_t value) {
  for (int64_t x : v)
    if (x != value) return false;
  return true;
}

float scalarOf(const ir::Value* v) { return v->constant->as<float>()[0]; }

// The downsample QConv feeding `n`'s residual, where the rewrite applies; else null. `n` must be on
// a tiled implicit-GEMM kernel (the fused node's); the downsample may be on any plan.
ir::Node* downsampleOf(const ir::Node& n) {
  if (!cudaQConv(n) || !n.hasInput(6) || !n.hasInput(7) || n.hasInput(kDsX) || !plainIgemmTactic(n)) return nullptr;
  const ir::Value* z = n.inputs[6];
  ir::Node* ds = z->producer;
  if (!ds || !cudaQConv(*ds) || z->is_graph_output || z->consumers.size() != 1 || ds->hasInput(6)) return nullptr;
  if (ds->attrString("activation", "none") != "none" || ds->attrInt("group", 1) != 1) return nullptr;
  const ir::Value* w = ds->inputs[1];
  if (w->dims.size() != 4 || w->dims[2] != 1 || w->dims[3] != 1 || !allEqual(ds->attrInts("pads"), 0) ||
      !allEqual(ds->attrInts("dilations"), 1) || ds->attrString("auto_pad", "NOTSET") != "NOTSET")
    return nullptr;
  // z's scale: the downsample's y_scale and the residual's z_scale, one constant value.
  if (!ds->hasInput(5) || !passes::rw::positiveScaleConstant(ds->inputs[5]) ||
      !passes::rw::positiveScaleConstant(n.inputs[7]) || scalarOf(ds->inputs[5]) != scalarOf(n.inputs[7]))
    return nullptr;
  for (int i : {1, 3, 4})
    if (!ds->inputs[static_cast<size_t>(i)]->isConstant()) return nullptr;
  if (ds->hasInput(2) && !ds->inputs[2]->isConstant()) return nullptr;
  return ds;
}

// `n` with `ds` as inputs kDsX.. and without z_q.
void fuseInto(ir::Node* n, const ir::Node& ds) {
  n->inputs.resize(kDsWScale + 1, nullptr);
  n->inputs[6] = nullptr;
  n->inputs[kDsX] = ds.inputs[0];
  n->inputs[kDsW] = ds.inputs[1];
  n->inputs[kDsBias] = ds.hasInput(2) ? ds.inputs[2] : nullptr;
  n->inputs[kDsXScale] = ds.inputs[3];
  n->inputs[kDsWScale] = ds.inputs[4];
  const std::vector<int64_t> strides = ds.attrInts("strides");
  n->attrs[kAttrDsStrides] = ir::Attribute::Ints(strides.empty() ? std::vector<int64_t>{1, 1} : strides);
}

// Times the fused node against the two, each kernel as the engine would run it (stored tactics),
// on scratch data. The device context is made on first use (no GPU: no fusion that needs timing).
class FusionTimer {
 public:
  // Whether fusing `ds` into `n` is faster by the clock; nullopt where it cannot be timed (no GPU,
  // a node no kernel takes at its build shapes).
  std::optional<bool> faster(const ir::Node& n, const ir::Node& ds, double* us_fused) {
    if (!ready()) return std::nullopt;
    ir::Node fused = n;
    fuseInto(&fused, ds);
    double t_fused = 0, t_n = 0, t_ds = 0;
    const bool ok = time(fused, &t_fused) && time(n, &t_n) && time(ds, &t_ds);
    const bool win = ok && t_fused < t_n + t_ds;
    if (envIs("QRT_CUDA_TACTICS_LOG", "1"))
      std::fprintf(stderr, "[tactics] %s: downsample %s in the kernel: %.1f us against %.1f + %.1f us%s\n",
                   n.describe().c_str(), ds.describe().c_str(), t_fused, t_n, t_ds,
                   !ok ? " (not timed)" : win ? ": fused" : ": kept apart");
    if (!ok) return std::nullopt;
    *us_fused = t_fused;
    return win;
  }

 private:
  bool ready() {
    if (!tried_) {
      tried_ = true;
      auto dev = DeviceContext::create(false);
      if (dev.ok()) {
        dev_ = std::move(*dev);
        timer_ = std::make_unique<TacticTimer>(dev_.get());
      } else {
        logWarning("CUDA downsample fusion: ", dev.status().message(), "; only the nodes both on the implicit GEMM fuse");
      }
    }
    return timer_ != nullptr;
  }
  bool time(const ir::Node& node, double* us) {
    auto k = createQConv(node, dev_.get());
    if (!k.ok()) return false;
    const std::string who = node.describe();
    const ConvTimer t = [&](const std::function<Status()>& work, double* u) { return timer_->time(work, 1e30, u, who); };
    Status s = timeOnScratch(node, dev_.get(), **k, t, us);
    if (!s.ok()) cudaGetLastError();
    return s.ok();
  }

  bool tried_ = false;
  std::unique_ptr<DeviceContext> dev_;
  std::unique_ptr<TacticTimer> timer_;
};

}  // namespace

Status fuseDownsampleResidual(ir::Graph& g, int* fused, const std::string& cache_path, const std::string& where) {
  *fused = 0;
  const bool always = envIs("QRT_CUDA_DS_FUSE", "always");
  if (envIs("QRT_CUDA_DS_FUSE", "off")) return Status::Ok();
  g.rebuildUses();
  FusionTimer timer;
  std::map<std::string, TimingEntry> cache;
  if (!cache_path.empty() && !always) QRT_RETURN_IF_ERROR(readTimingCache(cache_path, &cache));
  bool cache_grew = false;
  // The pair's verdict: the timing cache's, else the clock's (then stored in the cache).
  auto verdict = [&](const ir::Node& n, const ir::Node& ds) -> std::optional<bool> {
    const std::string key =
        "dsfuse " + n.attrString(kAttrTactic, "") + " + " + ds.attrString(kAttrTactic, "") + where;
    if (!cache_path.empty())
      if (auto it = cache.find(key); it != cache.end()) {
        if (envIs("QRT_CUDA_TACTICS_LOG", "1"))
          std::fprintf(stderr, "[tactics] %s: downsample %s in the kernel: %s (timing cache)\n", n.describe().c_str(),
                       ds.describe().c_str(), it->second.tactic.c_str());
        return it->second.tactic == "fused";
      }
    double us = 0;
    const std::optional<bool> win = timer.faster(n, ds, &us);
    if (win && !cache_path.empty()) {
      cache[key] = TimingEntry{*win ? "fused" : "apart", us};
      cache_grew = true;
    }
    return win;
  };
  std::set<const ir::Node*> dead;
  for (const auto& up : g.nodes()) {
    ir::Node* n = up.get();
    ir::Node* ds = downsampleOf(*n);
    if (!ds || dead.count(ds)) continue;
    // The fusion must be faster by the clock. Where it cannot be timed, the pair of implicit-GEMM
    // kernels still fuses (the fused kernel is their work less z's traffic and a launch); a
    // downsample that cuDNN or cuBLASLt kept does not.
    if (!always) {
      const std::optional<bool> win = verdict(*n, *ds);
      if (win ? !*win : !plainIgemmTactic(*ds)) continue;
    }
    fuseInto(n, *ds);
    dead.insert(ds);
    ++*fused;
  }
  if (cache_grew) QRT_RETURN_IF_ERROR(writeTimingCache(cache_path, cache));
  if (dead.empty()) return Status::Ok();
  g.removeNodes([&](const ir::Node& x) { return dead.count(&x) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  return passes::inferShapes(g);
}

}  // namespace qrt::cuda
