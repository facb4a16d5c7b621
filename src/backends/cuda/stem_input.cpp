// The stem convolution reads the engine's input itself. An FP16 channels-last engine feeds its
// first convolution through a Cast (fp32 -> fp16, convertToHalf) and a layout change
// (Identity qrt_to_nhwc, assignChannelsLast): on ResNet-50 at batch 256 that Identity alone
// costs 0.26 ms on an H100, writing a 3-channel NHWC tensor in 2-byte pieces. qrt's stem kernel
// (stem_conv.cu) gathers its patches from any layout, so where it is the convolution's kernel
// (its build-time tactic is "stem", or it has no tactic and the stem kernel is the default for
// its static shapes: launch::kStemDefaultPixels) and the Cast/Identity chain feeds only that
// convolution, the chain goes and the
// convolution reads the NCHW fp32 (or fp16) value directly:
//   qrt_x_nchw = 1  (kAttrXNchw) its x is stored NCHW though the node is channels-last; only the
//                   stem kernel reads that, so ConvKernel takes no other path for it
//   qrt_x_cast = 1  its x keeps its own float dtype and is rounded to W's dtype as it is read
//                   (the FusedConv contract, ops/fused.cpp)
// Runs after chooseConvTactics (the tactic decides) and only on FusedConv: the Conv op's type
// rules have no cast.
#include <cstdlib>
#include <cstring>
#include <set>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/depthwise_geometry.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda/stem_conv_launch.h"
#include "ops/nn_params.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

bool isGraphOutput(const ir::Graph& g, const ir::Value* v) {
  for (const ir::Value* o : g.outputs)
    if (o == v) return true;
  return false;
}

// The only reader is `n` and the caller does not see it.
bool private_(const ir::Graph& g, const ir::Value* v, const ir::Node* n) {
  return v->consumers.size() == 1 && v->consumers[0] == n && !isGraphOutput(g, v);
}

// Whether the stem kernel computes `n` (its shape rules, as ConvKernel::reshapeStem applies them).
bool stemShapes(const ir::Node& n) {
  if (!n.hasInput(1) || !n.inputs[1]->isConstant() || n.inputs[1]->dtype != DataType::kHalf) return false;
  if (n.hasInput(3)) return false;  // no residual
  const ir::Value* x = n.inputs[0];
  const ir::Value* w = n.inputs[1];
  const ir::Value* y = n.outputs[0];
  if (!x->has_shape || x->dims.size() != 4 || w->dims.size() != 4 || !y->has_shape || y->dims.size() != 4) return false;
  auto attrs = readWindowAttrs(n);
  if (!attrs.ok() || attrs->group != 1) return false;
  auto win = convWindow(*attrs, x->dims, w->dims);
  if (!win.ok() || win->rank != 2 || win->dilations[0] != 1 || win->dilations[1] != 1) return false;
  auto act = readEpilogueActivation(n);
  if (!act.ok() || (act->on && !launch::stemActivationSupported(act->op))) return false;
  launch::StemGeometry g;
  g.input = launch::StemGeometry::Input::kNchwFloat;
  static_cast<launch::Conv2dShape&>(g) = conv2dShape(x->dims, w->dims, y->dims, *win);
  if (x->dims[0] <= 0) g.n = 1;  // a dynamic batch is checked again at reshape
  g.k_pad = launch::stemKPad(g.kh, g.kw, g.c);
  return x->dims[1] > 0 && x->dims[2] > 0 && x->dims[3] > 0 && launch::stemConvSupported(g);
}

}  // namespace

std::optional<StemInputChain> stemInputChain(const ir::Graph& g, const ir::Node& n) {
  if (n.op_type != "FusedConv" || n.domain != kQrtDomain || n.backend != "cuda" || !channelsLast(n)) return std::nullopt;
  if (n.inputs[0]->dtype != DataType::kHalf || n.outputs[0]->dtype != DataType::kHalf || !stemShapes(n))
    return std::nullopt;
  ir::Value* x = n.inputs[0];
  ir::Node* layout = x->producer;
  if (!layout || layout->op_type != "Identity" || layout->attrInt(kAttrToNhwc, 0) != 1 || !private_(g, x, &n))
    return std::nullopt;
  StemInputChain chain;
  chain.src = layout->inputs[0];
  chain.nodes.push_back(layout);
  if (chain.src->producer && chain.src->producer->op_type == "Cast" && private_(g, chain.src, layout) &&
      chain.src->producer->inputs[0]->dtype == DataType::kFloat && chain.src->producer->backend == "cuda") {
    chain.nodes.push_back(chain.src->producer);
    chain.src = chain.src->producer->inputs[0];
  }
  if ((chain.src->dtype != DataType::kFloat && chain.src->dtype != DataType::kHalf) || chain.src->dims != x->dims)
    return std::nullopt;
  return chain;
}

Status fuseStemInput(ir::Graph& g, int* fused) {
  *fused = 0;
  const char* env = std::getenv("QRT_CUDA_STEM");
  if (env && std::strcmp(env, "off") == 0) return Status::Ok();
  g.rebuildUses();
  std::set<const ir::Node*> dead;
  for (const auto& up : g.nodes()) {
    ir::Node* n = up.get();
    if (n->op_type != "FusedConv" || n->domain != kQrtDomain) continue;
    // The kernel the convolution will run: the stem kernel by its tactic, or by default (none).
    const std::string tactic = n->attrString(kAttrTactic, "");
    if (!tactic.empty() && (tactic.size() < 5 || tactic.compare(tactic.size() - 5, 5, "|stem") != 0)) continue;
    if (tactic.empty()) {  // ConvKernel's default rule, on static shapes only
      const Dims& y = n->outputs[0]->dims;
      const bool forced = env && std::strcmp(env, "on") == 0;
      if (!forced && (y.size() != 4 || volume(y) < 0 || y[0] * y[2] * y[3] < launch::kStemDefaultPixels)) continue;
    }
    std::optional<StemInputChain> chain = stemInputChain(g, *n);
    if (!chain) continue;
    n->inputs[0] = chain->src;
    n->attrs[kAttrXNchw] = ir::Attribute::Int(1);
    if (chain->src->dtype != DataType::kHalf) n->attrs[kAttrXCast] = ir::Attribute::Int(1);
    dead.insert(chain->nodes.begin(), chain->nodes.end());
    ++*fused;
  }
  if (dead.empty()) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return dead.count(&n) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  return Status::Ok();
}

}  // namespace qrt::cuda
