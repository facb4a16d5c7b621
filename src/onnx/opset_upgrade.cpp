#include "onnx/opset_upgrade.h"

#include <algorithm>
#include <cfloat>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status_macros.h"
#include "passes/infer_shapes.h"

namespace qrt::onnx_export {

namespace {

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// The rewriting context: the graph, the opset being written, and helpers to add values.
class Upgrader {
 public:
  Upgrader(ir::Graph& g, int target) : g_(g), target_(target) {}

  ir::Graph& graph() { return g_; }
  int target() const { return target_; }

  ir::Value* constant(const std::string& base, HostTensor t) {
    ir::Value* v = g_.addValue(g_.uniqueName(base));
    v->dtype = t.dtype();
    v->dims = t.dims();
    v->has_shape = true;
    v->constant = std::move(t);
    return v;
  }

  // A 1-D int64 constant (axes, pads, starts, split sizes).
  ir::Value* int64List(const ir::Node& n, const std::string& what, const std::vector<int64_t>& v) {
    return constant(n.name + "_" + what, HostTensor::fromInt64(v, {static_cast<int64_t>(v.size())}));
  }

  // A scalar constant of `dtype` holding `x` (Clip bounds, Pad value).
  Result<ir::Value*> scalar(const ir::Node& n, const std::string& what, float x, DataType dtype) {
    QRT_ASSIGN_OR_RETURN(HostTensor t, castTensor(HostTensor::fromFloat({x}, {}), dtype));
    return constant(n.name + "_" + what, std::move(t));
  }

  ir::Node* addNode(const std::string& op, const std::string& base, std::vector<ir::Value*> ins,
                    std::vector<ir::Value*> outs) {
    ir::Node* n = g_.addNode(op, g_.uniqueName(base), std::move(ins), std::move(outs));
    n->opset = target_;
    return n;
  }

  ir::Value* value(const std::string& base, DataType dtype) {
    ir::Value* v = g_.addValue(g_.uniqueName(base));
    v->dtype = dtype;
    return v;
  }

 private:
  ir::Graph& g_;
  int target_;
};

// Sets input i of n, growing the input list with omitted inputs as needed.
void setInput(ir::Node& n, size_t i, ir::Value* v) {
  if (n.inputs.size() <= i) n.inputs.resize(i + 1, nullptr);
  n.inputs[i] = v;
}

// Moves an int list attribute to input `index` (when present); the common shape of most upgrades.
void attrToInput(Upgrader& u, ir::Node& n, const std::string& attr, size_t index) {
  if (!n.hasAttr(attr)) return;
  setInput(n, index, u.int64List(n, attr, n.attrInts(attr)));
  n.attrs.erase(attr);
}

const DataType kFloatInputs[] = {DataType::kFloat, DataType::kHalf, DataType::kDouble, DataType::kBFloat16};

DataType inputType(const ir::Node& n) { return n.hasInput(0) ? n.inputs[0]->dtype : DataType::kUndefined; }

// ---- The rewrites, one per (op, version where its form changed) ----

// Clip-6 -> 11: float attributes min/max (defaults: the float range) -> optional inputs of x's type.
Status clipBoundsToInputs(Upgrader& u, ir::Node& n) {
  const DataType t = inputType(n);
  if (std::find(std::begin(kFloatInputs), std::end(kFloatInputs), t) == std::end(kFloatInputs))
    return unsupported(n.describe(), ": Clip-6 of ", dataTypeName(t), " has no later form");
  if (n.hasAttr("min")) { QRT_ASSIGN_OR_RETURN(ir::Value * v, u.scalar(n, "min", n.attrFloat("min", -FLT_MAX), t)); setInput(n, 1, v); }
  if (n.hasAttr("max")) { QRT_ASSIGN_OR_RETURN(ir::Value * v, u.scalar(n, "max", n.attrFloat("max", FLT_MAX), t)); setInput(n, 2, v); }
  n.attrs.erase("min");
  n.attrs.erase("max");
  return Status::Ok();
}

// Pad-2 -> 11: pads and value attributes -> inputs (the value only matters in constant mode).
Status padAttrsToInputs(Upgrader& u, ir::Node& n) {
  if (!n.hasAttr("pads")) return invalidArgument(n.describe(), ": attribute 'pads' is required");
  setInput(n, 1, u.int64List(n, "pads", n.attrInts("pads")));
  const float value = n.attrFloat("value", 0.f);
  if (value != 0.f && n.attrString("mode", "constant") == "constant") {
    QRT_ASSIGN_OR_RETURN(ir::Value * v, u.scalar(n, "value", value, inputType(n)));
    setInput(n, 2, v);
  }
  n.attrs.erase("pads");
  n.attrs.erase("value");
  return Status::Ok();
}

// Slice-1 -> 10: starts/ends/axes attributes -> inputs 1..3.
Status sliceAttrsToInputs(Upgrader& u, ir::Node& n) {
  if (!n.hasAttr("starts") || !n.hasAttr("ends"))
    return invalidArgument(n.describe(), ": attributes 'starts' and 'ends' are required");
  attrToInput(u, n, "starts", 1);
  attrToInput(u, n, "ends", 2);
  attrToInput(u, n, "axes", 3);
  return Status::Ok();
}

// Resize-10 and Upsample-7/9 -> Resize-11: the legacy ops map coordinates asymmetrically (x / scale)
// and floor for nearest; Resize-11 says so explicitly, and takes (X, roi, scales). The roi is an
// empty tensor: Resize-11 requires the input (13 makes it optional), and only
// tf_crop_and_resize reads it.
Status legacyResizeToResize11(Upgrader& u, ir::Node& n) {
  const bool attr_scales = n.op_type == "Upsample" && n.opset < 9;
  ir::Value* scales = nullptr;
  if (attr_scales) {
    std::vector<float> s = n.attrFloats("scales");
    if (s.empty()) return invalidArgument(n.describe(), ": attribute 'scales' is required");
    scales = u.constant(n.name + "_scales", HostTensor::fromFloat(s, {static_cast<int64_t>(s.size())}));
  } else {
    if (!n.hasInput(1)) return invalidArgument(n.describe(), ": input 'scales' is required");
    scales = n.inputs[1];
  }
  std::string mode = n.attrString("mode", "nearest");
  if (mode == "bilinear") mode = "linear";  // Upsample-1's spelling of the same thing
  ir::Value* roi = u.constant(n.name + "_roi", HostTensor(DataType::kFloat, {0}));
  n.op_type = "Resize";
  n.inputs = {n.inputs.at(0), roi, scales};
  n.attrs.clear();
  n.attrs["mode"] = ir::Attribute::String(mode);
  n.attrs["coordinate_transformation_mode"] = ir::Attribute::String("asymmetric");
  if (mode == "nearest") n.attrs["nearest_mode"] = ir::Attribute::String("floor");
  return Status::Ok();
}

// Scatter-9 was renamed ScatterElements in opset 11, same inputs and meaning.
Status scatterToScatterElements(Upgrader&, ir::Node& n) {
  n.op_type = "ScatterElements";
  return Status::Ok();
}

// BatchNormalization-7's `spatial` was removed in 9; only its default (1) has a later form.
Status dropBatchNormSpatial(Upgrader&, ir::Node& n) {
  if (n.hasAttr("spatial") && n.attrInt("spatial", 1) != 1)
    return unsupported(n.describe(), ": BatchNormalization with spatial=0 has no form after opset 8");
  n.attrs.erase("spatial");
  return Status::Ok();
}

// Dropout-10's mask is bool, not x's type: an older mask can only go if nothing reads it.
Status dropDropoutMask(Upgrader& u, ir::Node& n) {
  if (n.outputs.size() > 1 && n.outputs[1]) {
    ir::Value* mask = n.outputs[1];
    bool used = std::find(u.graph().outputs.begin(), u.graph().outputs.end(), mask) != u.graph().outputs.end();
    for (const auto& other : u.graph().nodes())
      for (const ir::Value* in : other->inputs) used |= in == mask;
    if (used) return unsupported(n.describe(), ": its mask output changed dtype in opset 10 and is read");
  }
  n.outputs.resize(1);
  return Status::Ok();
}

// Dropout-12 takes the ratio as an input that only training mode reads; inference ignores it.
Status dropDropoutRatio(Upgrader&, ir::Node& n) {
  n.attrs.erase("ratio");
  return Status::Ok();
}

Status axesToInput1(Upgrader& u, ir::Node& n) {
  attrToInput(u, n, "axes", 1);
  return Status::Ok();
}

Status splitToInput(Upgrader& u, ir::Node& n) {
  attrToInput(u, n, "split", 1);
  return Status::Ok();
}

// Split-18 needs num_outputs when the sizes are not given (earlier: equal parts, one per output).
Status splitNumOutputs(Upgrader&, ir::Node& n) {
  if (!n.hasInput(1)) n.attrs["num_outputs"] = ir::Attribute::Int(static_cast<int64_t>(n.outputs.size()));
  return Status::Ok();
}

// Softmax / LogSoftmax / Hardmax before 13 flatten x to 2-D at `axis` (default 1) and normalize
// each row; from 13 they normalize along one axis (default -1). The same when axis is the last
// one; otherwise Flatten(axis) -> op(axis=1) -> Reshape(back to x's shape).
Status softmaxTo13(Upgrader& u, ir::Node& n) {
  ir::Value* x = n.hasInput(0) ? n.inputs[0] : nullptr;
  if (!x || !x->has_shape) return unsupported(n.describe(), ": the rank of its input is unknown, so its opset-13 form is too");
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  int64_t axis = n.attrInt("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank || rank == 0) return invalidArgument(n.describe(), ": axis ", n.attrInt("axis", 1), " is out of range for rank ", rank);
  if (axis == rank - 1) {
    n.attrs["axis"] = ir::Attribute::Int(axis);
    return Status::Ok();
  }
  ir::Value* y = n.outputs.at(0);
  ir::Value* flat = u.value(x->name + "_2d", x->dtype);
  ir::Node* flatten = u.addNode("Flatten", n.name + "_flatten", {x}, {flat});
  flatten->attrs["axis"] = ir::Attribute::Int(axis);
  ir::Value* normalized = u.value(y->name + "_2d", y->dtype);
  n.inputs[0] = flat;
  n.outputs[0] = normalized;
  n.attrs["axis"] = ir::Attribute::Int(1);
  // x's shape, as a constant when every dim is known and positive (Reshape reads 0 as "copy").
  ir::Value* shape = nullptr;
  if (std::all_of(x->dims.begin(), x->dims.end(), [](int64_t d) { return d > 0; })) {
    shape = u.int64List(n, "shape", x->dims);
  } else {
    shape = u.value(x->name + "_shape", DataType::kInt64);
    u.addNode("Shape", n.name + "_shape", {x}, {shape});
  }
  u.addNode("Reshape", n.name + "_reshape", {normalized, shape}, {y});
  return Status::Ok();
}

using RewriteFn = Status (*)(Upgrader&, ir::Node&);

// A change of an op's form at `version`: a node older than `version` written at `version` or
// later is rewritten by `fn` into the form of opset `result` (`version` unless the op is renamed
// into one whose form dates from a later opset).
struct Rewrite {
  const char* op;
  int version;
  RewriteFn fn;
  int result = version;
};

// The explicit table, one line per form change (see opset_upgrade.h for the list it covers).
const Rewrite kRewrites[] = {
    {"Slice", 10, &sliceAttrsToInputs},
    // Upsample-10 is Upsample-9 marked deprecated; from 11 on only Resize remains.
    {"Upsample", 11, &legacyResizeToResize11, 11},
    {"Dropout", 10, &dropDropoutMask},
    {"BatchNormalization", 9, &dropBatchNormSpatial},
    {"Clip", 11, &clipBoundsToInputs},
    {"Pad", 11, &padAttrsToInputs},
    {"Resize", 11, &legacyResizeToResize11},
    {"Scatter", 11, &scatterToScatterElements},
    {"Dropout", 12, &dropDropoutRatio},
    {"Squeeze", 13, &axesToInput1},
    {"Unsqueeze", 13, &axesToInput1},
    {"ReduceSum", 13, &axesToInput1},
    {"Split", 13, &splitToInput},
    {"Softmax", 13, &softmaxTo13},
    {"LogSoftmax", 13, &softmaxTo13},
    {"Hardmax", 13, &softmaxTo13},
    {"ReduceMax", 18, &axesToInput1},
    {"ReduceMin", 18, &axesToInput1},
    {"ReduceMean", 18, &axesToInput1},
    {"ReduceProd", 18, &axesToInput1},
    {"ReduceLogSum", 18, &axesToInput1},
    {"ReduceLogSumExp", 18, &axesToInput1},
    {"ReduceSumSquare", 18, &axesToInput1},
    {"ReduceL1", 18, &axesToInput1},
    {"ReduceL2", 18, &axesToInput1},
    {"Split", 18, &splitNumOutputs},
};

// The first rewrite of n's op that lies in (from, target], lowest version first.
const Rewrite* nextRewrite(const std::string& op, int from, int target) {
  const Rewrite* best = nullptr;
  for (const Rewrite& r : kRewrites)
    if (op == r.op && r.version > from && r.version <= target && (!best || r.version < best->version)) best = &r;
  return best;
}

Status upgradeNode(Upgrader& u, ir::Node& n) {
  int from = n.opset;
  // A rewrite may rename the op (Upsample -> Resize); the renamed op continues from the rewrite's
  // version, so later changes of the new op still apply.
  while (const Rewrite* r = nextRewrite(n.op_type, from, u.target())) {
    Status s = r->fn(u, n);
    if (!s.ok()) return s.withContext(strCat("writing opset ", u.target(), " (node from opset ", n.opset, ")"));
    from = r->result;
  }
  n.opset = u.target();
  return Status::Ok();
}

// Ops introduced after opset 7, with the opset that introduced them.
struct Introduced {
  const char* op;
  int opset;
};
const Introduced kIntroduced[] = {
    {"Expand", 8},
    {"Acosh", 9}, {"Asinh", 9}, {"Atanh", 9}, {"ConstantOfShape", 9}, {"Cosh", 9}, {"Erf", 9},
    {"EyeLike", 9}, {"IsNaN", 9}, {"MeanVarianceNormalization", 9}, {"OneHot", 9}, {"Scatter", 9},
    {"Shrink", 9}, {"Sign", 9}, {"Sinh", 9}, {"Where", 9},
    {"ConvInteger", 10}, {"DequantizeLinear", 10}, {"IsInf", 10}, {"MatMulInteger", 10}, {"Mod", 10},
    {"QLinearConv", 10}, {"QLinearMatMul", 10}, {"QuantizeLinear", 10}, {"Resize", 10},
    {"ThresholdedRelu", 10},
    {"BitShift", 11}, {"DynamicQuantizeLinear", 11}, {"GatherElements", 11}, {"GatherND", 11},
    {"Range", 11}, {"Round", 11}, {"ScatterElements", 11}, {"ScatterND", 11},
    {"Celu", 12}, {"GreaterOrEqual", 12}, {"LessOrEqual", 12},
    {"HardSwish", 14}, {"Trilu", 14},
    {"CastLike", 15},
    {"LayerNormalization", 17},
    {"Gelu", 20},
};

}  // namespace

int firstOpsetOf(const std::string& op_type) {
  for (const Introduced& i : kIntroduced)
    if (op_type == i.op) return i.opset;
  return 1;
}

Status upgradeOpset(ir::Graph& graph, int target) {
  Upgrader u(graph, target);
  // Rewrites add nodes; visit the nodes that exist now.
  std::vector<ir::Node*> nodes;
  for (const auto& n : graph.nodes()) nodes.push_back(n.get());
  for (ir::Node* n : nodes) {
    if (!isDefaultDomain(n->domain)) continue;
    // Opset 0: made in a graph that names no default opset; taken to be in the written form.
    if (n->opset <= 0) n->opset = target;
    if (n->opset > target)
      return internalError(n->describe(), " has opset ", n->opset, ", above the opset being written (", target, ")");
    if (n->opset < target) QRT_RETURN_IF_ERROR(upgradeNode(u, *n));
  }
  graph.opsets[""] = target;
  graph.removeUnusedValues();
  QRT_RETURN_IF_ERROR(graph.topoSort());
  QRT_RETURN_IF_ERROR(ir::verify(graph));
  Status s = passes::inferShapes(graph);
  if (!s.ok()) return s.withContext(strCat("after raising the graph to opset ", target));
  return Status::Ok();
}

}  // namespace qrt::onnx_export
