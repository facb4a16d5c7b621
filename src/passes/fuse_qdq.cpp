// foldQdq's driver, its first step (QuantizeLinear of constants evaluated at build time) and the
// Conv rewrite. Gemm and MatMul are in fuse_qdq_gemm.cpp; matching helpers in fuse_qdq_match.cpp.
#include "passes/fuse_qdq.h"

#include "backends/reference/evaluate.h"
#include "core/status_macros.h"
#include "passes/fuse_qdq_match.h"
#include "passes/infer_shapes.h"
#include "passes/remove_dead_nodes.h"

namespace qrt::passes {

namespace qdq {

// DQ(x_q) -> Conv(DQ(w_q const), bias?) [-> act] [-> Q]  =>  QConv(x_q, w_q, bias, x_scale,
// w_scale, y_scale?). x per tensor; w per tensor or per output channel (axis 0).
bool rewriteConv(FoldState& s, ir::Node& conv) {
  std::optional<DqOperand> x = matchDequantize(conv.inputs[0]);
  std::optional<DqOperand> w = conv.hasInput(1) ? matchDequantize(conv.inputs[1]) : std::nullopt;
  if (!x || !w || !x->perTensor() || !w->data->isConstant() || w->data->dims.size() < 3) return false;
  if (!w->perTensor() && w->axis != 0) return false;
  ir::Value* bias = conv.hasInput(2) ? conv.inputs[2] : nullptr;
  if (bias && bias->dtype != DataType::kFloat) return false;
  if (conv.outputs.size() != 1 || !conv.outputs[0] || conv.outputs[0]->dtype != DataType::kFloat) return false;
  FusedTail tail = matchTail(conv.outputs[0], s.options.hard_swish, s.options.hard_swish && s.options.hard_swish_affine);
  ir::Node* q = addFusedNode(s, "QConv", conv, {x->data, w->data, bias, x->scale, w->scale, tail.y_scale}, tail);
  for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"})
    if (const ir::Attribute* attr = conv.attr(a)) q->attrs[a] = *attr;
  ++s.report.qconv;
  return true;
}

}  // namespace qdq

namespace {

// Nodes of `op` (QuantizeLinear or DequantizeLinear) whose inputs are all constants, evaluated
// into constants; `count` counts them. Constant folding keeps Q/DQ on purpose (they carry the
// quantization); foldQdq evaluates them where that intent is kept or spent:
// - QuantizeLinear of a float weight becomes an int8 constant, so that the DequantizeLinear after
//   it reads a constant like any other quantized weight (the DQ remains);
// - after the rewrites, a DequantizeLinear of a constant that no fused op took feeds a float
//   layer (ConvTranspose's weights): its exact fp32 values as a constant let that layer pre-pack
//   its weights as in an FP32 engine (PP-OCRv4's detector on the cpu backend: its two
//   ConvTransposes took 15.6 ms with DQ'd weights, 1.7 ms with constant ones).
Status foldConstantNodes(ir::Graph& g, const char* op, int* count) {
  std::set<const ir::Node*> folded;
  for (const auto& n : g.nodes()) {
    if (n->op_type != op || !(n->domain.empty() || n->domain == "ai.onnx")) continue;
    if (n->outputs.size() == 1 && n->outputs[0] && n->outputs[0]->is_graph_output) continue;
    std::vector<const HostTensor*> ins;
    bool all_const = true;
    for (const ir::Value* in : n->inputs) {
      all_const &= !in || in->isConstant();
      ins.push_back(in && in->isConstant() ? &*in->constant : nullptr);
    }
    if (!all_const || n->outputs.size() != 1 || !n->outputs[0] || volume(n->outputs[0]->dims) < 0) continue;
    QRT_ASSIGN_OR_RETURN(std::vector<HostTensor> out, reference::evaluateNode(*n, ins));
    n->outputs[0]->constant = std::move(out[0]);
    folded.insert(n.get());
    ++*count;
  }
  if (folded.empty()) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return folded.count(&n) != 0; });
  return g.topoSort();
}

}  // namespace

std::string FoldReport::summary() const {
  return strCat(qconv, " QConv, ", qgemm, " QGemm, ", qmatmul, " QMatMul (", requantized,
                " with fused requantization", affine > 0 ? strCat(", ", affine, " with the affine after a HardSwish") : "",
                ")");
}

bool hasQdq(const ir::Graph& graph) {
  for (const auto& n : graph.nodes())
    if ((n->op_type == "QuantizeLinear" || n->op_type == "DequantizeLinear") &&
        (n->domain.empty() || n->domain == "ai.onnx"))
      return true;
  return false;
}

Status foldQdq(ir::Graph& graph, FoldReport* report, const FoldOptions& options) {
  FoldReport local;
  FoldReport& r = report ? *report : local;
  QRT_RETURN_IF_ERROR(graph.topoSort());
  QRT_RETURN_IF_ERROR(foldConstantNodes(graph, "QuantizeLinear", &r.constant_quantize));
  qdq::FoldState s{graph, r, options, {}};
  std::vector<ir::Node*> layers;
  for (const auto& n : graph.nodes())
    if (n->domain.empty() || n->domain == "ai.onnx") layers.push_back(n.get());
  // Rewrites add nodes and rewire inputs; uses (producer/consumers) stay those of the graph as
  // it was, which is what matching needs: each pattern's nodes belong to one layer only.
  for (ir::Node* n : layers) {
    if (s.removed.count(n)) continue;
    if (n->op_type == "Conv") qdq::rewriteConv(s, *n);
    else if (n->op_type == "Gemm") qdq::rewriteGemm(s, *n);
    else if (n->op_type == "MatMul") qdq::rewriteMatMul(s, *n);
  }
  if (!s.removed.empty()) {
    graph.removeNodes([&](const ir::Node& n) { return s.removed.count(&n) != 0; });
    // The fused nodes were appended: order the graph before dead-node removal walks it backwards.
    QRT_RETURN_IF_ERROR(graph.topoSort());
    QRT_RETURN_IF_ERROR(removeDeadNodes(graph));  // DequantizeLinear nodes nothing reads any more
  }
  QRT_RETURN_IF_ERROR(foldConstantNodes(graph, "DequantizeLinear", &r.constant_dequantize));
  if (s.removed.empty() && r.constant_dequantize == 0) return Status::Ok();
  return inferShapes(graph).withContext("after folding Q/DQ");
}

}  // namespace qrt::passes
