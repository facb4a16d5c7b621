#include "passes/recognize_activations.h"

#include <cmath>

#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// A binary node `op` of a float tensor x and a scalar constant c that does not raise x's rank.
struct ScalarOp {
  ir::Value* x = nullptr;
  double c = 0;
  bool const_first = false;  // op(c, x) rather than op(x, c)
};

std::optional<ScalarOp> scalarOperand(const ir::Node* n, const char* op) {
  if (!rw::isOp(n, op) || n->inputs.size() != 2 || !n->inputs[0] || !n->inputs[1]) return std::nullopt;
  if (n->outputs.size() != 1 || !n->outputs[0]) return std::nullopt;
  for (int ci = 1; ci >= 0; --ci) {
    ir::Value* x = n->inputs[1 - ci];
    const ir::Value* c = n->inputs[ci];
    auto v = rw::scalarConstant(c);
    if (!v || x->isConstant() || !rw::isFloatType(x->dtype) || !x->has_shape || c->dims.size() > x->dims.size())
      continue;
    return ScalarOp{x, *v, ci == 0};
  }
  return std::nullopt;
}

// a and b agree to within float rounding (the constants were stored as float).
bool near(double a, double b) { return std::fabs(a - b) <= 1e-6 * std::fabs(b); }

// t divides its operand `v` by r, or multiplies it by 1/r.
bool dividesBy(const ir::Node* t, const ir::Value* v, double r) {
  if (auto d = scalarOperand(t, "Div")) return d->x == v && !d->const_first && near(d->c, r);
  if (auto m = scalarOperand(t, "Mul")) return m->x == v && near(m->c * r, 1.0);
  return false;
}

// Turns node t into `op` over `inputs` (its outputs stay), dropping its attributes.
void become(ir::Node& t, const char* op, std::vector<ir::Value*> inputs) {
  t.op_type = op;
  t.domain.clear();
  t.inputs = std::move(inputs);
  t.attrs.clear();
}

// At a Clip(x + b, 0, r): HardSigmoid (Clip(..) / r) or HardSwish (x * Clip(..) / r, b = 3, r = 6).
bool fromClip(ir::Node& clip, std::set<const ir::Node*>& removed) {
  if (!rw::isOp(&clip, "Clip") || clip.outputs.size() != 1 || !clip.hasInput(0)) return false;
  auto bounds = rw::clipBounds(clip);
  if (!bounds || bounds->first != 0.0 || !(bounds->second > 0.0) || std::isinf(bounds->second)) return false;
  const double r = bounds->second;
  ir::Node* add = clip.inputs[0]->producer;
  auto shifted = scalarOperand(add, "Add");
  if (!shifted || rw::soleReader(clip.inputs[0]) != &clip) return false;
  ir::Value* x = shifted->x;
  const double b = shifted->c;
  ir::Value* out = clip.outputs[0];
  ir::Node* next = rw::soleReader(out);
  if (!next) return false;
  if (dividesBy(next, out, r)) {
    become(*next, "HardSigmoid", {x});
    next->attrs["alpha"] = ir::Attribute::Float(static_cast<float>(1.0 / r));
    next->attrs["beta"] = ir::Attribute::Float(static_cast<float>(b / r));
    removed.insert(add);
    removed.insert(&clip);
    return true;
  }
  // x * Clip(x + 3, 0, 6), then / 6.
  if (!rw::isOp(next, "Mul") || next->inputs.size() != 2 || b != 3.0 || r != 6.0) return false;
  const ir::Value* other = next->inputs[0] == out ? next->inputs[1] : next->inputs[0];
  if (other != x || next->outputs.size() != 1) return false;
  ir::Node* last = rw::soleReader(next->outputs[0]);
  if (!last || !dividesBy(last, next->outputs[0], 6.0)) return false;
  become(*last, "HardSwish", {x});
  removed.insert(add);
  removed.insert(&clip);
  removed.insert(next);
  return true;
}

// At a Mul(x, HardSigmoid(x; 1/6, 0.5)): HardSwish.
bool fromMulHardSigmoid(ir::Node& mul, std::set<const ir::Node*>& removed) {
  if (!rw::isOp(&mul, "Mul") || mul.inputs.size() != 2 || !mul.inputs[0] || !mul.inputs[1]) return false;
  for (int hi = 0; hi < 2; ++hi) {
    ir::Value* h = mul.inputs[hi];
    ir::Node* hs = rw::producerOf(h, "HardSigmoid");
    if (!hs || rw::soleReader(h) != &mul || hs->inputs.empty() || hs->inputs[0] != mul.inputs[1 - hi]) continue;
    if (!near(hs->attrFloat("alpha", 0.2f) * 6.0, 1.0) || hs->attrFloat("beta", 0.5f) != 0.5f) continue;
    if (!rw::isFloatType(h->dtype)) continue;
    become(mul, "HardSwish", {hs->inputs[0]});
    removed.insert(hs);
    return true;
  }
  return false;
}

// At Min(Max(x, lo), hi), Max(Min(x, hi), lo) or Min(Relu(x), hi): Clip(x, lo, hi).
bool fromMinMax(ir::Graph& g, ir::Node& top, std::set<const ir::Node*>& removed) {
  const bool top_min = rw::isOp(&top, "Min");
  auto outer = scalarOperand(&top, top_min ? "Min" : "Max");
  if (!outer) return false;
  ir::Node* inner = outer->x->producer;
  if (!inner || rw::soleReader(outer->x) != &top) return false;
  ir::Value* x = nullptr;
  double inner_bound = 0.0;
  if (auto in = scalarOperand(inner, top_min ? "Max" : "Min")) {
    x = in->x;
    inner_bound = in->c;
  } else if (top_min && rw::isOp(inner, "Relu") && inner->hasInput(0) && rw::isFloatType(inner->inputs[0]->dtype)) {
    x = inner->inputs[0];
  } else {
    return false;
  }
  const double lo = top_min ? inner_bound : outer->c, hi = top_min ? outer->c : inner_bound;
  if (!(lo <= hi) || x->dims != top.outputs[0]->dims) return false;
  if (top.opset >= 11) {
    auto lo_t = rw::fromDoubles({lo}, x->dtype, {});
    auto hi_t = rw::fromDoubles({hi}, x->dtype, {});
    if (!lo_t.ok() || !hi_t.ok()) return false;
    become(top, "Clip", {x, rw::addConstant(g, top.name + "_min", std::move(*lo_t)),
                         rw::addConstant(g, top.name + "_max", std::move(*hi_t))});
  } else {
    become(top, "Clip", {x});
    top.attrs["min"] = ir::Attribute::Float(static_cast<float>(lo));
    top.attrs["max"] = ir::Attribute::Float(static_cast<float>(hi));
  }
  removed.insert(inner);
  return true;
}

bool recognizeAt(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed) {
  return fromClip(n, removed) || fromMulHardSigmoid(n, removed) || fromMinMax(g, n, removed);
}

}  // namespace

Status recognizeActivations(ir::Graph& graph, bool* changed) {
  return rw::rewriteToFixedPoint(graph, &recognizeAt, changed);
}

}  // namespace qrt::passes
