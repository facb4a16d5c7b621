#include "passes/recognize_layernorm.h"

#include "ops/reduce_axes.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// The number k of trailing axes a keepdims ReduceMean of a rank-r input reduces, when they are
// exactly the last k (the form LayerNormalization's axis = -k covers); 0 otherwise.
int64_t trailingAxes(const ir::Node& mean) {
  if (!rw::isOp(&mean, "ReduceMean") || !mean.hasInput(0) || !mean.inputs[0]->has_shape) return 0;
  if (mean.attrInt("keepdims", 1) != 1 || mean.attrInt("noop_with_empty_axes", 0) != 0) return 0;
  std::vector<int64_t> axes;
  if (reduceAxesFromInput(mean)) {
    if (!mean.inputs[1]->isConstant()) return 0;
    axes = mean.inputs[1]->constant->toInt64Vector();
  } else {
    axes = mean.attrInts("axes");
  }
  const int64_t rank = static_cast<int64_t>(mean.inputs[0]->dims.size());
  auto mask = reducedAxesMask(mean.describe(), rank, axes, false);
  if (!mask.ok()) return 0;
  int64_t k = 0;
  while (k < rank && (*mask)[static_cast<size_t>(rank - 1 - k)]) ++k;
  for (int64_t i = 0; i < rank - k; ++i)
    if ((*mask)[static_cast<size_t>(i)]) return 0;
  return k;
}

// The operand of binary node n other than v, when n is `op` with v as an operand.
ir::Value* otherOperand(const ir::Node* n, const char* op, const ir::Value* v) {
  if (!rw::isOp(n, op) || n->inputs.size() != 2 || !n->outputs[0]) return nullptr;
  if (n->inputs[0] == v) return n->inputs[1];
  if (n->inputs[1] == v) return n->inputs[0];
  return nullptr;
}

// A constant of x's dtype that broadcasts within x's last k dims: its dims, right-aligned with
// x's, are 1 or equal to x's, and any beyond the last k are 1 (so applying it keeps x's shape).
bool normalizedParameter(const ir::Value* p, const ir::Value* x, int64_t k) {
  if (!p || !p->isConstant() || p->dtype != x->dtype || p->dims.size() > x->dims.size()) return false;
  const Dims& xd = x->dims;
  const size_t lead = p->dims.size() > static_cast<size_t>(k) ? p->dims.size() - static_cast<size_t>(k) : 0;
  for (size_t i = 0; i < p->dims.size(); ++i) {
    int64_t xi = xd[xd.size() - p->dims.size() + i];
    if (p->dims[i] != 1 && (i < lead || p->dims[i] != xi)) return false;
  }
  return true;
}

// p with its leading unit dims beyond the last k dropped: LayerNormalization's Scale and B
// broadcast to the normalized shape alone.
ir::Value* trimmed(ir::Graph& g, ir::Value* p, int64_t k) {
  if (static_cast<int64_t>(p->dims.size()) <= k) return p;
  Dims d(p->dims.end() - k, p->dims.end());
  return rw::addConstant(g, p->name + "_ln", p->constant->reshaped(d));
}

// At the Div of the chain.
bool recognizeAt(ir::Graph& g, ir::Node& div, std::set<const ir::Node*>& removed) {
  if (!rw::isOp(&div, "Div") || div.inputs.size() != 2 || !div.inputs[0] || !div.inputs[1]) return false;
  ir::Value* d = div.inputs[0];
  ir::Node* sub = rw::producerOf(d, "Sub");
  ir::Node* sqrt = rw::producerOf(div.inputs[1], "Sqrt");
  if (!sub || !sqrt || rw::soleReader(div.inputs[1]) != &div) return false;
  ir::Value* x = sub->inputs[0];
  ir::Node* mean = rw::producerOf(sub->inputs[1], "ReduceMean");
  if (!mean || mean->inputs[0] != x || rw::soleReader(sub->inputs[1]) != sub || !rw::isFloatType(x->dtype)) return false;
  const int64_t k = trailingAxes(*mean);
  if (k == 0) return false;
  // eps: Sqrt(Add(v, eps)).
  ir::Node* add = rw::producerOf(sqrt->inputs[0], "Add");
  if (!add || rw::soleReader(sqrt->inputs[0]) != sqrt) return false;
  ir::Value* v = add->inputs[0]->isConstant() ? add->inputs[1] : add->inputs[0];
  auto eps = rw::scalarConstant(otherOperand(add, "Add", v));
  ir::Node* var = rw::producerOf(v, "ReduceMean");
  if (!eps || !(*eps >= 0) || !var || rw::soleReader(v) != add || trailingAxes(*var) != k) return false;
  // The square: Pow(d, 2) or Mul(d, d), read only by the variance's ReduceMean.
  ir::Node* sq = var->inputs[0]->producer;
  if (!sq || rw::soleReader(var->inputs[0]) != var) return false;
  const bool pow = rw::isOp(sq, "Pow") && sq->inputs[0] == d && rw::scalarConstant(sq->inputs[1]) == 2.0;
  const bool mul = rw::isOp(sq, "Mul") && sq->inputs[0] == d && sq->inputs[1] == d;
  if (!(pow || mul)) return false;
  // d is read by the square and the Div only.
  if (d->is_graph_output || d->consumers.size() != 2) return false;
  // Optional scale and bias after the Div.
  std::vector<ir::Node*> chain{mean, sub, sq, var, add, sqrt, &div};
  ir::Value* gamma = nullptr;
  ir::Value* beta = nullptr;
  ir::Node* scale_node = rw::soleReader(div.outputs[0]);
  if (ir::Value* p = otherOperand(scale_node, "Mul", div.outputs[0]); p && normalizedParameter(p, x, k)) {
    gamma = p;
    chain.push_back(scale_node);
  }
  ir::Node* bias_node = rw::soleReader(chain.back()->outputs[0]);
  if (ir::Value* p = otherOperand(bias_node, "Add", chain.back()->outputs[0]); p && normalizedParameter(p, x, k)) {
    beta = p;
    chain.push_back(bias_node);
  }
  ir::Node* last = chain.back();
  if (last->outputs[0]->dims != x->dims) return false;
  if (!gamma) {
    auto one = rw::fromDoubles({1.0}, x->dtype, {1});
    if (!one.ok()) return false;
    gamma = rw::addConstant(g, div.name + "_scale", std::move(*one));
  }
  chain.pop_back();  // `last` becomes the LayerNormalization
  for (ir::Node* n : chain) removed.insert(n);
  std::vector<ir::Value*> inputs{x, trimmed(g, gamma, k)};
  if (beta) inputs.push_back(trimmed(g, beta, k));
  last->op_type = "LayerNormalization";
  last->inputs = std::move(inputs);
  last->outputs.resize(1);
  last->attrs.clear();
  last->attrs["axis"] = ir::Attribute::Int(-k);
  last->attrs["epsilon"] = ir::Attribute::Float(static_cast<float>(*eps));
  return true;
}

}  // namespace

Status recognizeLayerNorm(ir::Graph& graph, bool* changed) { return rw::rewriteToFixedPoint(graph, &recognizeAt, changed); }

}  // namespace qrt::passes
