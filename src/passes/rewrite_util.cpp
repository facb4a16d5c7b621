#include "passes/rewrite_util.h"

#include <algorithm>
#include <limits>

#include "core/status_macros.h"

namespace qrt::passes::rw {

bool isDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool isOp(const ir::Node* n, const char* op_type) { return n && n->op_type == op_type && isDefaultDomain(n->domain); }

bool isFloatType(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kHalf || t == DataType::kBFloat16;
}

int inputIndexOf(const ir::Node& reader, const ir::Value* v) {
  for (size_t i = 0; i < reader.inputs.size(); ++i)
    if (reader.inputs[i] == v) return static_cast<int>(i);
  return -1;
}

ir::Node* soleReader(const ir::Value* v) {
  if (!v || v->is_graph_output || v->consumers.size() != 1) return nullptr;
  ir::Node* c = v->consumers[0];
  int uses = 0;
  for (const ir::Value* in : c->inputs) uses += in == v;
  return uses == 1 ? c : nullptr;
}

ir::Node* producerOf(const ir::Value* v, const char* op_type) {
  if (!v || !isOp(v->producer, op_type)) return nullptr;
  return v->producer->outputs.empty() || v->producer->outputs[0] != v ? nullptr : v->producer;
}

std::vector<double> toDoubles(const HostTensor& t) {
  std::vector<double> r(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) r[static_cast<size_t>(i)] = t.getDouble(i);
  return r;
}

Result<HostTensor> fromDoubles(const std::vector<double>& values, DataType dtype, const Dims& dims) {
  HostTensor d(DataType::kDouble, dims);
  if (static_cast<size_t>(d.numel()) != values.size())
    return internalError("fromDoubles: ", values.size(), " values for dims ", dimsToString(dims));
  std::copy(values.begin(), values.end(), d.as<double>());
  if (dtype == DataType::kDouble) return d;
  return castTensor(d, dtype);  // the only rounding
}

ir::Value* addConstant(ir::Graph& g, const std::string& base, HostTensor t) {
  ir::Value* v = g.addValue(g.uniqueName(base));
  v->dtype = t.dtype();
  v->dims = t.dims();
  v->has_shape = true;
  v->constant = std::move(t);
  return v;
}

std::optional<double> scalarConstant(const ir::Value* v) {
  if (!v || !v->isConstant() || !isFloatType(v->dtype) || v->constant->numel() != 1) return std::nullopt;
  return v->constant->getDouble(0);
}

bool singleElementConstant(const ir::Value* v) { return v && v->isConstant() && v->constant->numel() == 1; }

bool positiveScaleConstant(const ir::Value* v) {
  if (!singleElementConstant(v) || v->dtype != DataType::kFloat) return false;
  const float s = v->constant->as<float>()[0];
  return s > 0.0f && s <= std::numeric_limits<float>::max();
}

std::optional<std::vector<double>> perChannelConstant(const ir::Value* v, const Dims& target, size_t axis,
                                                     int64_t channels) {
  if (!v || !v->isConstant() || !isFloatType(v->dtype) || channels <= 0 || axis >= target.size()) return std::nullopt;
  const HostTensor& c = *v->constant;
  const Dims& d = c.dims();
  if (d.size() > target.size()) return std::nullopt;  // would add leading dims
  const size_t lead = target.size() - d.size();
  for (size_t j = 0; j < d.size(); ++j) {
    bool on_axis = lead + j == axis;
    if (d[j] != 1 && !(on_axis && d[j] == channels)) return std::nullopt;
  }
  std::vector<double> values = toDoubles(c);
  if (values.size() == 1) values.assign(static_cast<size_t>(channels), values[0]);
  if (values.size() != static_cast<size_t>(channels)) return std::nullopt;
  return values;
}

std::optional<std::pair<double, double>> clipBounds(const ir::Node& clip) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  double lo = -kInf, hi = kInf;
  if (clip.opset < 11 && (clip.hasAttr("min") || clip.hasAttr("max"))) {
    if (clip.hasAttr("min")) lo = clip.attrFloat("min", 0.f);
    if (clip.hasAttr("max")) hi = clip.attrFloat("max", 0.f);
    return std::make_pair(lo, hi);
  }
  for (size_t i = 1; i <= 2; ++i) {
    if (!clip.hasInput(i)) continue;
    const ir::Value* b = clip.inputs[i];
    if (!b->isConstant()) return std::nullopt;
    if (b->constant->numel() == 0) continue;  // an empty tensor means "no bound"
    if (b->constant->numel() != 1) return std::nullopt;
    (i == 1 ? lo : hi) = b->constant->getDouble(0);
  }
  return std::make_pair(lo, hi);
}

ir::Value* addValueLike(ir::Graph& g, const ir::Value& like, const std::string& suffix, DataType t) {
  ir::Value* v = g.addValue(g.uniqueName(like.name + suffix));
  v->dtype = t;
  v->dims = like.dims;
  v->has_shape = like.has_shape;
  return v;
}

Status dropReplacedNodes(ir::Graph& g, const std::set<const ir::Node*>& dead) {
  g.removeNodes([&](const ir::Node& n) { return dead.count(&n) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  return g.topoSort();
}

std::string fusedName(const ir::Graph& g, const std::string& a, const std::string& b) {
  return g.uniqueName(a + " + " + b);
}

Status rewriteToFixedPoint(ir::Graph& g, RewriteFn fn, bool* changed) {
  bool any = false;
  for (;;) {
    g.rebuildUses();
    std::set<const ir::Node*> removed;
    bool did = false;
    for (const auto& n : g.nodes())
      if (fn(g, *n, removed)) {
        did = true;
        break;
      }
    if (!did) break;
    if (removed.empty()) return internalError("a graph rewrite removed no node (it would repeat forever)");
    any = true;
    g.removeNodes([&](const ir::Node& n) { return removed.count(&n) != 0; });
    g.removeUnusedValues();
  }
  if (changed) *changed = any;
  if (any) QRT_RETURN_IF_ERROR(g.topoSort());
  return Status::Ok();
}

}  // namespace qrt::passes::rw
