#include "passes/remove_identities.h"

#include <cmath>

#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// The operand n passes through unchanged, or nullptr.
ir::Value* passedThrough(const ir::Node& n) {
  if (n.outputs.empty() || !n.outputs[0] || !n.hasInput(0)) return nullptr;
  if (rw::isOp(&n, "Identity")) return n.inputs[0];
  if (rw::isOp(&n, "Dropout")) {
    // The mask output is unused, and training_mode (opset 12+) is absent or a constant false.
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (n.outputs[i] && (!n.outputs[i]->consumers.empty() || n.outputs[i]->is_graph_output)) return nullptr;
    if (n.hasInput(2) && (!n.inputs[2]->isConstant() || n.inputs[2]->constant->getDouble(0) != 0)) return nullptr;
    if (n.opset < 7 && n.attrInt("is_test", 0) == 0) return nullptr;
    return n.inputs[0];
  }
  const bool mul = rw::isOp(&n, "Mul"), div = rw::isOp(&n, "Div"), sub = rw::isOp(&n, "Sub");
  if (!(mul || div || sub) || n.inputs.size() != 2 || !n.inputs[1]) return nullptr;
  // Mul: either side; Div and Sub: the constant must be the second operand.
  for (int ci = 1; ci >= (mul ? 0 : 1); --ci) {
    ir::Value* x = n.inputs[1 - ci];
    auto c = rw::scalarConstant(n.inputs[ci]);
    if (!c || x->isConstant() || x->dtype != n.inputs[ci]->dtype || !x->has_shape) continue;
    if (n.inputs[ci]->dims.size() > x->dims.size()) continue;
    // x - (-0) turns -0 into +0: only a +0 is an identity for Sub.
    if (sub ? (*c == 0.0 && !std::signbit(*c)) : *c == 1.0) return x;
  }
  return nullptr;
}

bool removeAt(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed) {
  ir::Value* in = passedThrough(n);
  ir::Value* out = in ? n.outputs[0] : nullptr;
  if (!out || out->is_graph_output || out->dtype != in->dtype) return false;
  g.replaceAllUses(out, in);
  removed.insert(&n);
  return true;
}

}  // namespace

Status removeIdentities(ir::Graph& graph, bool* changed) { return rw::rewriteToFixedPoint(graph, &removeAt, changed); }

}  // namespace qrt::passes
