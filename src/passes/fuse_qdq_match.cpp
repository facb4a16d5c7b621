#include "passes/fuse_qdq_match.h"

#include <cmath>
#include <limits>

#include "ops/op.h"
#include "ops/shape_util.h"

namespace qrt::passes::qdq {

namespace {

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

bool isOp(const ir::Node* n, const char* op) { return n && n->op_type == op && isDefaultDomain(n->domain); }

// A constant fp32 tensor whose elements are all finite and positive (a usable scale).
bool isScale(const ir::Value* v) {
  if (!v || !v->isConstant() || v->dtype != DataType::kFloat || v->dims.size() > 1) return false;
  const HostTensor& t = *v->constant;
  for (int64_t i = 0; i < t.numel(); ++i) {
    float s = t.as<float>()[i];
    if (!std::isfinite(s) || s <= 0.f) return false;
  }
  return t.numel() >= 1;
}

// An absent zero point, or a constant one of dtype `type` whose elements are all 0.
bool isZeroPoint(const ir::Node& n, size_t i, DataType type, bool required) {
  if (!n.hasInput(i)) return !required;
  const ir::Value* z = n.inputs[i];
  if (!z->isConstant() || z->dtype != type) return false;
  for (int64_t k = 0; k < z->constant->numel(); ++k)
    if (z->constant->getInt(k) != 0) return false;
  return true;
}

// The only node reading v (through its input 0, once), when v is not also a graph output.
ir::Node* soleReader(const ir::Value* v) {
  if (v->is_graph_output || v->consumers.size() != 1) return nullptr;
  ir::Node* c = v->consumers[0];
  for (size_t i = 0; i < c->inputs.size(); ++i)
    if (c->inputs[i] == v && i != 0) return nullptr;
  return c;
}

// A scalar bound of Clip-11+ (input i): absent -> `absent`; else a constant fp32 scalar.
std::optional<float> clipBound(const ir::Node& clip, size_t i, float absent) {
  if (!clip.hasInput(i)) return absent;
  const ir::Value* v = clip.inputs[i];
  if (!v->isConstant() || v->dtype != DataType::kFloat || v->constant->numel() != 1) return std::nullopt;
  return v->constant->as<float>()[0];
}

// Reads Relu, Clip or (with `hard_swish`) HardSwish into the tail; false when `n` is none of
// them or its bounds are not constant.
bool matchActivation(const ir::Node& n, FusedTail& t, bool hard_swish) {
  if (n.outputs.size() != 1 || !n.outputs[0] || n.outputs[0]->dtype != DataType::kFloat) return false;
  if (isOp(&n, "Relu")) {
    t.activation = "relu";
    return true;
  }
  if (hard_swish && isOp(&n, "HardSwish")) {
    t.activation = "hard_swish";
    return true;
  }
  if (!isOp(&n, "Clip")) return false;
  const float inf = std::numeric_limits<float>::infinity();
  std::optional<float> lo, hi;
  if (n.opset < 11) {  // Clip-6: attributes, defaulting to the float range
    lo = n.attrFloat("min", std::numeric_limits<float>::lowest());
    hi = n.attrFloat("max", std::numeric_limits<float>::max());
  } else {
    lo = clipBound(n, 1, -inf);
    hi = clipBound(n, 2, inf);
  }
  if (!lo || !hi || std::isnan(*lo) || std::isnan(*hi) || *lo > *hi) return false;
  t.activation = "clip";
  t.clip_min = *lo;
  t.clip_max = *hi;
  return true;
}

// The only node reading v (through any one input), when v is not also a graph output.
ir::Node* soleConsumer(const ir::Value* v) {
  if (v->is_graph_output || v->consumers.size() != 1) return nullptr;
  return v->consumers[0];
}

// An fp32 scalar constant operand of a binary node `n` (Mul or Add) whose other operand is `x`.
std::optional<float> scalarOperand(const ir::Node& n, const ir::Value* x) {
  if (n.inputs.size() != 2 || n.outputs.size() != 1 || !n.outputs[0] || n.outputs[0]->dtype != DataType::kFloat)
    return std::nullopt;
  const ir::Value* c = n.inputs[0] == x ? n.inputs[1] : n.inputs[1] == x ? n.inputs[0] : nullptr;
  if (!c || n.inputs[0] == n.inputs[1] || !c->isConstant() || c->dtype != DataType::kFloat || c->constant->numel() != 1)
    return std::nullopt;
  if (c->dims.size() > x->dims.size()) return std::nullopt;  // a constant of higher rank would broadcast the output
  const float v = c->constant->as<float>()[0];
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

// A QuantizeLinear to int8, zero point 0 (present: without it the output would be uint8) and a
// constant scalar scale.
bool isInt8Requantize(const ir::Node& q) {
  return isOp(&q, "QuantizeLinear") && q.hasInput(1) && isScale(q.inputs[1]) && q.inputs[1]->constant->numel() == 1 &&
         isZeroPoint(q, 2, DataType::kInt8, true) && q.outputs.size() == 1 && q.outputs[0] &&
         q.outputs[0]->dtype == DataType::kInt8 && q.attrInt("block_size", 0) == 0;
}

}  // namespace

std::optional<DqOperand> matchDequantize(const ir::Value* v) {
  if (!v || v->dtype != DataType::kFloat) return std::nullopt;
  ir::Node* dq = v->producer;
  if (!isOp(dq, "DequantizeLinear") || !dq->hasInput(0) || !dq->hasInput(1)) return std::nullopt;
  ir::Value* data = dq->inputs[0];
  if (data->dtype != DataType::kInt8 || !data->has_shape || !isScale(dq->inputs[1])) return std::nullopt;
  if (!isZeroPoint(*dq, 2, DataType::kInt8, false) || dq->attrInt("block_size", 0) != 0) return std::nullopt;
  DqOperand op;
  op.node = dq;
  op.data = data;
  op.scale = dq->inputs[1];
  op.count = op.scale->constant->numel();
  if (op.count > 1) {
    std::optional<int64_t> axis = normalizeAxis(dq->attrInt("axis", 1), static_cast<int64_t>(data->dims.size()));
    if (!axis || data->dims[static_cast<size_t>(*axis)] != op.count) return std::nullopt;
    op.axis = *axis;
  }
  return op;
}

FusedTail matchTail(ir::Value* y, bool hard_swish, bool affine) {
  FusedTail t;
  t.out = y;
  ir::Node* next = soleReader(t.out);
  if (next && matchActivation(*next, t, hard_swish)) {
    t.absorbed.push_back(next);
    t.out = next->outputs[0];
    next = soleReader(t.out);
  }
  // The affine after a HardSwish: Mul by c, then Add d (either may be absent), taken only when
  // the requantization follows it.
  if (affine && t.activation == "hard_swish") {
    ir::Value* out = t.out;
    ir::Node* at = soleConsumer(out);  // Mul(c, x) as well as Mul(x, c)
    std::vector<ir::Node*> nodes;
    float scale = 1.f, shift = 0.f;
    if (isOp(at, "Mul")) {
      if (std::optional<float> c = scalarOperand(*at, out)) {
        scale = *c;
        nodes.push_back(at);
        out = at->outputs[0];
        at = soleConsumer(out);
      }
    }
    if (at && isOp(at, "Add")) {
      if (std::optional<float> d = scalarOperand(*at, out)) {
        shift = *d;
        nodes.push_back(at);
        out = at->outputs[0];
        at = soleConsumer(out);
      }
    }
    if (!nodes.empty() && at && !at->inputs.empty() && at->inputs[0] == out && isInt8Requantize(*at)) {
      t.absorbed.insert(t.absorbed.end(), nodes.begin(), nodes.end());
      t.post_scale = scale;
      t.post_shift = shift;
      t.has_affine = true;
      t.out = out;
      next = at;
    }
  }
  if (next && isInt8Requantize(*next)) {
    t.absorbed.push_back(next);
    t.y_scale = next->inputs[1];
    t.out = next->outputs[0];
  }
  return t;
}

ir::Value* addConstant(ir::Graph& g, const std::string& base, HostTensor t) {
  ir::Value* v = g.addValue(g.uniqueName(base));
  v->dtype = t.dtype();
  v->dims = t.dims();
  v->has_shape = true;
  v->constant = std::move(t);
  return v;
}

ir::Node* addFusedNode(FoldState& s, const std::string& op, const ir::Node& original, std::vector<ir::Value*> inputs,
                       const FusedTail& tail) {
  // The fused node keeps the layer's name (reports and profiles show the model's names); the
  // original is removed before anything checks names.
  while (!inputs.empty() && inputs.back() == nullptr) inputs.pop_back();  // omitted trailing optionals
  ir::Node* n = s.graph.addNode(op, original.name, std::move(inputs), {tail.out});
  n->domain = kQrtDomain;
  n->opset = 1;
  n->precision = Precision::kINT8;
  n->attrs["activation"] = ir::Attribute::String(tail.activation);
  if (tail.activation == "clip") {
    n->attrs["clip_min"] = ir::Attribute::Float(tail.clip_min);
    n->attrs["clip_max"] = ir::Attribute::Float(tail.clip_max);
  }
  if (tail.has_affine) {
    n->attrs["post_scale"] = ir::Attribute::Float(tail.post_scale);
    n->attrs["post_shift"] = ir::Attribute::Float(tail.post_shift);
    ++s.report.affine;
  }
  s.removed.insert(&original);
  for (const ir::Node* a : tail.absorbed) s.removed.insert(a);
  if (tail.y_scale) ++s.report.requantized;
  return n;
}

}  // namespace qrt::passes::qdq
