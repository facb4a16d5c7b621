#include "passes/fold_constants.h"

#include <set>

#include "backends/reference/evaluate.h"
#include "core/status_macros.h"
#include "passes/node_infer.h"

namespace qrt::passes {

namespace {

// Folded outputs larger than this stay computed at run time (keeps engines small).
constexpr int64_t kMaxFoldedElements = int64_t{1} << 24;

bool keepsIntent(const ir::Node& n) {
  return n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear";
}

bool foldable(const ir::Node& n) {
  if (keepsIntent(n)) return false;
  bool all_const = true;
  for (const ir::Value* in : n.inputs)
    if (in && !in->isConstant()) all_const = false;
  if (n.op_type == "Shape" && n.hasInput(0)) return volume(n.inputs[0]->dims) >= 0 || n.inputs[0]->isConstant();
  return all_const;
}

}  // namespace

Status foldConstants(ir::Graph& graph, bool* changed) {
  QRT_RETURN_IF_ERROR(graph.topoSort());
  auto constant_of = [](const ir::Value* v) -> const HostTensor* { return v->constant ? &*v->constant : nullptr; };
  std::set<const ir::Node*> folded;
  for (const auto& node : graph.nodes()) {
    QRT_RETURN_IF_ERROR(inferNode(*node, constant_of));
    if (!foldable(*node)) continue;
    bool small = true;
    for (const ir::Value* o : node->outputs)
      if (o && (volume(o->dims) < 0 || volume(o->dims) > kMaxFoldedElements)) small = false;
    if (!small) continue;
    std::vector<const HostTensor*> ins;
    for (const ir::Value* in : node->inputs) ins.push_back(in && in->constant ? &*in->constant : nullptr);
    // Shape only needs dims: give it a tensor of the right dims without data.
    HostTensor dims_only;
    if (node->op_type == "Shape" && !node->inputs[0]->isConstant()) {
      dims_only = HostTensor(node->inputs[0]->dtype, Dims{0});
      dims_only = dims_only.reshaped(node->inputs[0]->dims);
      ins[0] = &dims_only;
    }
    auto outs = reference::evaluateNode(*node, ins);
    if (!outs.ok()) return outs.status().withContext("constant folding");
    for (size_t i = 0; i < node->outputs.size(); ++i)
      if (node->outputs[i]) node->outputs[i]->constant = std::move((*outs)[i]);
    folded.insert(node.get());
  }
  if (changed) *changed = !folded.empty();
  if (folded.empty()) return Status::Ok();
  graph.removeNodes([&](const ir::Node& n) { return folded.count(&n) != 0; });
  graph.rebuildUses();
  return Status::Ok();
}

}  // namespace qrt::passes
