// The tuner's second look at a stem convolution (conv_tactics.cpp): its candidates are timed on
// the layer alone, reading fp16 NHWC and writing fp16, which is how cuDNN runs it. qrt's stem
// kernel runs it otherwise: it reads the engine's NCHW fp32 input itself (stem_input.cpp), so
// the Cast and the NHWC copy in front of the layer go, and in an INT8 engine it quantizes its
// own output (stem_quantize.cpp), so a QuantizeLinear behind it goes too. Timed alone the two
// can tie while the engines differ by those kernels: MobileNetV2 at batch 256 on an H200
// (session 13) timed cuDNN 606.8 us against the stem kernel's 607.3 us, kept cuDNN, and paid
// 0.12 ms of Cast, 0.26 ms of NHWC copy and (INT8) 0.42 ms of QuantizeLinear for it. Like
// TensorRT's reformat costs: the comparison here is the stem kernel as it will run (NCHW input,
// int8 output where it absorbs the quantizer) against the other tactic plus those kernels, each
// timed on scratch data of the layer's shapes.
#include <memory>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_context.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda/tactic_timer.h"
#include "core/logging.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

// A stand-alone copy of the stem `n` as the stem kernel will run it: x is `src` (NCHW, its own
// dtype, rounded as read), y is int8 by `q`'s scale where q is given.
struct StemTrial {
  ir::Value x, y;
  ir::Node node;
};

std::unique_ptr<StemTrial> stemAsRun(const ir::Node& n, const ir::Value& src, const ir::Node* q) {
  auto t = std::make_unique<StemTrial>();
  t->x.name = src.name;
  t->x.dtype = src.dtype;
  t->x.dims = src.dims;
  t->x.has_shape = true;
  const ir::Value& y = q ? *q->outputs[0] : *n.outputs[0];
  t->y.name = y.name;
  t->y.dtype = y.dtype;
  t->y.dims = n.outputs[0]->dims;
  t->y.has_shape = true;
  t->node.name = n.name;
  t->node.op_type = n.op_type;
  t->node.domain = n.domain;
  t->node.opset = n.opset;
  t->node.backend = n.backend;
  t->node.attrs = n.attrs;
  t->node.attrs.erase(kAttrTactic);
  t->node.attrs[kAttrXNchw] = ir::Attribute::Int(1);
  if (src.dtype != DataType::kHalf) t->node.attrs[kAttrXCast] = ir::Attribute::Int(1);
  t->node.inputs = n.inputs;
  t->node.inputs[0] = &t->x;
  if (q) {
    t->node.inputs.resize(6, nullptr);
    t->node.inputs[4] = q->inputs[1];
    t->node.inputs[5] = q->hasInput(2) ? q->inputs[2] : nullptr;
  }
  t->node.outputs = {&t->y};
  return t;
}

}  // namespace

Result<bool> stemSavesMore(const ir::Graph& g, const ir::Node& n, DeviceContext* dev, double best_us,
                           const std::string& best_tactic, std::string* why) {
  if (envIs("QRT_CUDA_STEM", "off") || best_tactic == "stem") return false;
  std::optional<StemInputChain> chain = stemInputChain(g, n);
  if (!chain) return false;
  const ir::Node* q = envIs("QRT_CUDA_STEM_QUANTIZE", "off") ? nullptr : stemQuantizeReader(n, true);
  if (q && q->op_type != "QuantizeLinear") q = nullptr;  // a pool stays: only a removed kernel counts
  const std::string who = n.describe();
  TacticTimer timer(dev);
  const ConvTimer time = [&](const std::function<Status()>& work, double* us) {
    return timer.time(work, 1e30, us, who);
  };
  auto trial = stemAsRun(n, *chain->src, q);
  std::string tactic;
  double stem_us = 0;
  Status s = stemConvCandidate(trial->node, dev, time, &tactic, &stem_us);
  if (!s.ok()) {
    cudaGetLastError();
    if (s.code() == StatusCode::kUnsupported) return false;
    return s;
  }
  // The kernels the stem kernel makes unnecessary, each on scratch data.
  std::vector<const ir::Node*> saved(chain->nodes.begin(), chain->nodes.end());
  if (q) saved.push_back(q);
  double saved_us = 0;
  std::string names;
  for (const ir::Node* m : saved) {
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, createKernel(*m, dev));
    double us = 0;
    Status r = timeOnScratch(*m, dev, *k, time, &us);
    if (!r.ok()) {
      cudaGetLastError();
      return false;  // not measured: the other tactic stays
    }
    saved_us += us;
    names += strCat(names.empty() ? "" : ", ", m->op_type, " ", us, " us");
  }
  const bool stem = stem_us < best_us + saved_us;
  *why = strCat("stem kernel as run (NCHW input", q ? ", int8 output" : "", ") ", stem_us, " us against ", best_tactic,
                " ", best_us, " us + ", names, ": ", stem ? "stem" : best_tactic);
  return stem;
}

}  // namespace qrt::cuda
