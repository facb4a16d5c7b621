#include "passes/infer_shapes.h"

#include "ops/op_table.h"
#include "passes/node_infer.h"

namespace qrt::passes {

Status inferNode(ir::Node& node, const ValueLookup& value_of) {
  const OpDef* def = findOp(node.op_type);
  if (!def || !node.domain.empty())
    return unsupported("unsupported operator '", node.op_type, "' (node '", node.name, "')");
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

Status inferShapes(ir::Graph& graph) {
  QRT_RETURN_IF_ERROR(graph.topoSort());
  auto constant_of = [](const ir::Value* v) -> const HostTensor* { return v->constant ? &*v->constant : nullptr; };
  for (const auto& n : graph.nodes()) QRT_RETURN_IF_ERROR(inferNode(*n, constant_of));
  return Status::Ok();
}

}  // namespace qrt::passes
