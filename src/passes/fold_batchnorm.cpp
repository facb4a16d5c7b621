#include "passes/fold_batchnorm.h"

#include <cmath>

#include "passes/channel_affine.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// Only Y is produced: the training outputs (running and saved statistics) are absent or unused.
bool onlyFirstOutputUsed(const ir::Node& bn) {
  for (size_t i = 1; i < bn.outputs.size(); ++i) {
    const ir::Value* o = bn.outputs[i];
    if (o && (!o->consumers.empty() || o->is_graph_output)) return false;
  }
  return !bn.outputs.empty() && bn.outputs[0];
}

bool foldAt(ir::Graph& g, ir::Node& bn, std::set<const ir::Node*>& removed) {
  if (!rw::isOp(&bn, "BatchNormalization") || bn.inputs.size() < 5 || !onlyFirstOutputUsed(bn)) return false;
  if (bn.attrInt("training_mode", 0) != 0) return false;
  ir::Value* x = bn.inputs[0];
  ir::Node* layer = x ? x->producer : nullptr;
  if (!layer || layer->outputs.empty() || layer->outputs[0] != x || rw::soleReader(x) != &bn) return false;
  const int64_t channels = foldableOutputChannels(*layer);
  if (channels <= 0 || !x->has_shape || x->dims.size() < 2) return false;
  // One value per channel (axis 1); the spatial=0 form of opsets 7-8 with more values stays.
  std::vector<double> p[4];
  for (size_t i = 0; i < 4; ++i) {
    const ir::Value* v = bn.inputs[i + 1];
    if (!v || !v->isConstant() || !rw::isFloatType(v->dtype) || v->constant->numel() != channels) return false;
    p[i] = rw::toDoubles(*v->constant);
  }
  const std::vector<double>&gamma = p[0], &beta = p[1], &mean = p[2], &var = p[3];
  const double eps = bn.attrFloat("epsilon", 1e-5f);
  std::vector<double> scale(static_cast<size_t>(channels)), shift(scale.size());
  for (size_t c = 0; c < scale.size(); ++c) {
    scale[c] = gamma[c] / std::sqrt(var[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  if (!foldOutputAffine(g, *layer, scale, shift)) return false;
  layer->outputs[0] = bn.outputs[0];
  layer->name = rw::fusedName(g, layer->name, bn.name);
  removed.insert(&bn);
  return true;
}

}  // namespace

Status foldBatchNorm(ir::Graph& graph, bool* changed) { return rw::rewriteToFixedPoint(graph, &foldAt, changed); }

}  // namespace qrt::passes
