#include "passes/infer_shapes.h"

#include <map>

#include "backends/reference/evaluate.h"
#include "ops/op_table.h"
#include "passes/node_infer.h"

namespace qrt::passes {

Status inferNode(ir::Node& node, const ValueLookup& value_of) {
  const OpDef* def = findOp(node.domain, node.op_type);
  if (!def)
    return unsupported("unsupported operator '", node.domain.empty() ? "" : node.domain + "::", node.op_type,
                       "' (node '", node.name, "')");
  InferContext ctx(node);
  for (ir::Value* in : node.inputs) {
    bool present = in != nullptr;
    ctx.in_present.push_back(present);
    ctx.in_types.push_back(present ? in->dtype : DataType::kUndefined);
    ctx.in_dims.push_back(present ? in->dims : Dims{});
    ctx.in_values.push_back(present ? value_of(in) : nullptr);
  }
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    ir::Value* in = node.inputs[i];
    if (in && !in->has_shape)
      return invalidArgument(node.describe(), ": the shape of input '", in->name, "' is unknown");
  }
  QRT_RETURN_IF_ERROR(def->infer(ctx));
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    ir::Value* out = node.outputs[i];
    if (!out) continue;
    if (i >= ctx.out_types.size() || ctx.out_types[i] == DataType::kUndefined)
      return internalError(node.describe(), ": shape inference gave no type for output ", i);
    out->dtype = ctx.out_types[i];
    out->dims = ctx.out_dims[i];
    out->has_shape = true;
  }
  return Status::Ok();
}

namespace {

// Outputs up to this size are computed during inference so later nodes see their values
// (Shape -> Gather -> Concat -> Reshape chains on static dims).
constexpr int64_t kMaxPropagatedElements = 4096;

bool needsOnlyDims(const ir::Node& n) { return n.op_type == "Shape" || n.op_type == "Size"; }

bool propagatable(const ir::Node& n, const ValueLookup& value_of) {
  if (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear" || !n.domain.empty()) return false;
  for (const ir::Value* o : n.outputs)
    if (o && (volume(o->dims) < 0 || volume(o->dims) > kMaxPropagatedElements)) return false;
  if (needsOnlyDims(n)) return n.hasInput(0) && volume(n.inputs[0]->dims) >= 0;
  for (const ir::Value* in : n.inputs)
    if (in && !value_of(in)) return false;
  return true;
}

}  // namespace

Status inferShapes(ir::Graph& graph) {
  QRT_RETURN_IF_ERROR(graph.topoSort());
  std::map<const ir::Value*, HostTensor> propagated;
  auto value_of = [&](const ir::Value* v) -> const HostTensor* {
    if (v->constant) return &*v->constant;
    auto it = propagated.find(v);
    return it == propagated.end() ? nullptr : &it->second;
  };
  for (const auto& n : graph.nodes()) {
    QRT_RETURN_IF_ERROR(inferNode(*n, value_of));
    if (!propagatable(*n, value_of)) continue;
    std::vector<const HostTensor*> ins;
    HostTensor dims_only;
    for (const ir::Value* in : n->inputs) ins.push_back(in ? value_of(in) : nullptr);
    if (needsOnlyDims(*n) && !ins[0]) {
      dims_only = HostTensor(n->inputs[0]->dtype, Dims{0}).reshaped(n->inputs[0]->dims);
      ins[0] = &dims_only;
    }
    // Best effort: a node that cannot be evaluated here simply leaves its outputs unknown.
    auto outs = reference::evaluateNode(*n, ins);
    if (!outs.ok()) continue;
    for (size_t i = 0; i < n->outputs.size(); ++i)
      if (n->outputs[i]) propagated[n->outputs[i]] = std::move((*outs)[i]);
  }
  return Status::Ok();
}

}  // namespace qrt::passes
