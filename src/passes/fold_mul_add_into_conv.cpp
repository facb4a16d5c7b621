#include "passes/fold_mul_add_into_conv.h"

#include "passes/channel_affine.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// An elementwise node computing v * scale[c] + shift[c] of its non-constant operand v.
struct Affine {
  ir::Value* operand = nullptr;
  std::vector<double> scale, shift;
};

// n as an affine map of the operand that is not a constant, channels along axis 1 of `dims`
// (the dims of the non-constant operand).
std::optional<Affine> matchAffine(const ir::Node& n, int64_t channels) {
  const bool mul = rw::isOp(&n, "Mul"), add = rw::isOp(&n, "Add"), sub = rw::isOp(&n, "Sub"),
             div = rw::isOp(&n, "Div");
  if (!(mul || add || sub || div) || n.inputs.size() != 2 || !n.inputs[0] || !n.inputs[1]) return std::nullopt;
  if (n.outputs.size() != 1 || !n.outputs[0]) return std::nullopt;
  const int ci = n.inputs[1]->isConstant() ? 1 : n.inputs[0]->isConstant() ? 0 : -1;
  if (ci < 0 || n.inputs[1 - ci]->isConstant()) return std::nullopt;
  Affine a;
  a.operand = n.inputs[1 - ci];
  if (!a.operand->has_shape || a.operand->dims.size() < 2 || !rw::isFloatType(a.operand->dtype)) return std::nullopt;
  if (n.inputs[ci]->dtype != a.operand->dtype) return std::nullopt;
  auto c = rw::perChannelConstant(n.inputs[ci], a.operand->dims, 1, channels);
  if (!c) return std::nullopt;
  const size_t k = c->size();
  a.scale.assign(k, 1.0);
  a.shift.assign(k, 0.0);
  for (size_t i = 0; i < k; ++i) {
    const double v = (*c)[i];
    if (mul) a.scale[i] = v;
    if (add) a.shift[i] = v;
    if (sub && ci == 1) a.shift[i] = -v;                   // v - c
    if (sub && ci == 0) a.scale[i] = -1.0, a.shift[i] = v;  // c - v
    if (div && ci == 0) return std::nullopt;                // c / v is not affine
    if (div) {
      if (v == 0.0) return std::nullopt;
      a.scale[i] = 1.0 / v;
    }
  }
  return a;
}

// Output side: the layer producing n's operand absorbs n.
bool foldAfterLayer(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed) {
  for (ir::Value* in : n.inputs) {
    ir::Node* layer = in ? in->producer : nullptr;
    if (!layer || layer->outputs.empty() || layer->outputs[0] != in || rw::soleReader(in) != &n) continue;
    const int64_t channels = foldableOutputChannels(*layer);
    if (channels <= 0) continue;
    auto a = matchAffine(n, channels);
    if (!a || a->operand != in || !foldOutputAffine(g, *layer, a->scale, a->shift)) continue;
    layer->outputs[0] = n.outputs[0];
    layer->name = rw::fusedName(g, layer->name, n.name);
    removed.insert(&n);
    return true;
  }
  return false;
}

// Input side: every Conv reading n's output absorbs n.
bool foldBeforeConvs(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed) {
  ir::Value* u = n.outputs.size() == 1 ? n.outputs[0] : nullptr;
  if (!u || u->is_graph_output || u->consumers.empty()) return false;
  int64_t channels = -1;
  for (const ir::Node* c : u->consumers) {
    int64_t k = foldableInputChannels(*c);
    if (k <= 0 || rw::inputIndexOf(*c, u) != 0 || (channels >= 0 && k != channels)) return false;
    for (size_t i = 1; i < c->inputs.size(); ++i)
      if (c->inputs[i] == u) return false;
    channels = k;
  }
  auto a = matchAffine(n, channels);
  if (!a || a->operand->dims[1] != channels) return false;
  // Each Conv is rewired as soon as it absorbed the map, so the graph stays consistent even if
  // a later fold failed (it cannot for float dtypes, the only ones matched).
  const std::vector<ir::Node*> convs = u->consumers;
  for (ir::Node* c : convs) {
    if (!foldInputAffine(g, *c, a->scale, a->shift)) return false;
    c->inputs[0] = a->operand;
    c->name = rw::fusedName(g, n.name, c->name);
  }
  removed.insert(&n);
  return true;
}

bool foldAt(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed) {
  return foldAfterLayer(g, n, removed) || foldBeforeConvs(g, n, removed);
}

}  // namespace

Status foldMulAddIntoConv(ir::Graph& graph, bool* changed) { return rw::rewriteToFixedPoint(graph, &foldAt, changed); }

}  // namespace qrt::passes
