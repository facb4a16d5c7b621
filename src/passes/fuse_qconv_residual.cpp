#include "passes/fuse_qconv_residual.h"

#include <set>
#include <vector>

#include "core/status_macros.h"
#include "ops/op.h"
#include "passes/fuse_qdq_match.h"
#include "passes/infer_shapes.h"
#include "passes/remove_dead_nodes.h"

namespace qrt::passes {

namespace {

bool isQConv(const ir::Node& n) { return n.op_type == "QConv" && n.domain == kQrtDomain; }

bool isAdd(const ir::Node* n) { return n && n->op_type == "Add" && (n->domain.empty() || n->domain == "ai.onnx"); }

// The QConv's Add when y is read by it alone (once) and is not a graph output.
ir::Node* soleAdd(const ir::Value* y) {
  if (y->is_graph_output || y->consumers.size() != 1) return nullptr;
  ir::Node* add = y->consumers[0];
  if (!isAdd(add) || add->inputs.size() != 2 || add->outputs.size() != 1 || !add->outputs[0]) return nullptr;
  if (add->inputs[0] == add->inputs[1]) return nullptr;
  return add;
}

// Rewrites one QConv when it heads the pattern; returns true when it did.
bool rewrite(qdq::FoldState& s, ir::Node& conv) {
  // A float output without an activation of its own (the activation must follow the sum) and
  // no residual yet.
  if (conv.hasInput(5) || conv.hasInput(6) || conv.outputs.size() != 1 || !conv.outputs[0]) return false;
  if (conv.attrString("activation", "none") != "none") return false;
  ir::Value* y = conv.outputs[0];
  if (y->dtype != DataType::kFloat || !y->has_shape) return false;
  ir::Node* add = soleAdd(y);
  if (!add || s.removed.count(add) || add->outputs[0]->dtype != DataType::kFloat) return false;
  ir::Value* other = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
  std::optional<qdq::DqOperand> z = qdq::matchDequantize(other);
  if (!z || !z->perTensor() || z->data->dims != y->dims) return false;
  qdq::FusedTail tail = qdq::matchTail(add->outputs[0]);
  std::vector<ir::Value*> inputs(conv.inputs.begin(), conv.inputs.end());
  inputs.resize(8, nullptr);
  inputs[5] = tail.y_scale;
  inputs[6] = z->data;
  inputs[7] = z->scale;
  ir::Node* f = qdq::addFusedNode(s, "QConv", conv, inputs, tail);
  for (const auto& [name, attr] : conv.attrs)
    if (name != "activation" && name != "clip_min" && name != "clip_max") f->attrs[name] = attr;
  s.removed.insert(add);
  return true;
}

}  // namespace

Status fuseQConvResidual(ir::Graph& g, int* fused) {
  int count = 0;
  QRT_RETURN_IF_ERROR(g.topoSort());
  g.rebuildUses();
  FoldReport report;
  FoldOptions options;  // the CUDA backend's residual QConv applies ReLU or clip (matchTail's default too)
  options.hard_swish = options.hard_swish_gemm = false;
  qdq::FoldState s{g, report, options, {}};
  std::vector<ir::Node*> convs;
  for (const auto& n : g.nodes())
    if (isQConv(*n)) convs.push_back(n.get());
  for (ir::Node* n : convs)
    if (rewrite(s, *n)) ++count;
  if (fused) *fused = count;
  if (count == 0) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return s.removed.count(&n) != 0; });
  QRT_RETURN_IF_ERROR(g.topoSort());
  QRT_RETURN_IF_ERROR(removeDeadNodes(g));  // the residuals' DequantizeLinear nodes
  return inferShapes(g).withContext("after fusing INT8 residuals into QConv");
}

}  // namespace qrt::passes
