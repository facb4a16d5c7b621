// FP16 for the CUDA backend (BuilderFlag::kFP16): every device node whose op has an fp16 CUDA
// kernel runs in fp16. The INT8 nodes join them at the edges of INT8 regions: a QuantizeLinear
// whose input an fp16 node writes reads fp16; a DequantizeLinear, or a QConv with a float output,
// whose readers are all fp16 nodes writes fp16 (output_dtype). Each used to meet its fp16
// neighbour through a Cast (the PP-OCRv4 detector's INT8 engine spent 0.49 of its 2.7 ms of
// kernels in Casts at batch 1 on an H100). The dtype rewrite itself (constants converted once,
// Casts where fp16 and fp32 nodes meet, graph inputs and outputs kept fp32) is the shared pass
// passes::convertPrecision, which the host builder uses for its per-layer precisions too. Host
// nodes (shape computations) are left alone.
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"
#include "passes/convert_precision.h"

namespace qrt::cuda {

namespace {

bool hasHalfKernel(const ir::Node& n) {
  const std::string domain = n.domain == "ai.onnx" ? "" : n.domain;
  for (auto family : {elementwiseKernels, movementKernels, nnKernels, convKernels, gemmKernels})
    for (const CudaKernelEntry& e : family())
      if (n.op_type == e.op_type && domain == e.domain && e.dtypes.contains(DataType::kHalf)) return true;
  return false;
}

// qrt's QConv without y_scale: a float output (int8 with one).
bool isFloatQConv(const ir::Node& n) { return n.op_type == "QConv" && n.domain == kQrtDomain && !n.hasInput(5); }

}  // namespace

Status convertToHalf(ir::Graph& g, int* converted_nodes) {
  g.rebuildUses();
  const std::set<const ir::Node*> host = hostNodes(g);
  std::set<const ir::Node*> half;
  for (const auto& n : g.nodes())
    if (!host.count(n.get()) && hasHalfKernel(*n)) half.insert(n.get());
  // Q, DQ and float-output QConvs on the device (their CUDA kernels take or write fp16 activations
  // with fp32 scales), by their neighbours.
  std::set<const ir::Node*> qdq;
  for (const auto& n : g.nodes()) {
    if (host.count(n.get()) || (!n->domain.empty() && !isFloatQConv(*n)) || n->attrInt("block_size", 0) != 0 ||
        !n->hasInput(0))
      continue;
    if (n->op_type == "QuantizeLinear") {
      const ir::Node* p = n->inputs[0]->producer;
      if (n->inputs[0]->dtype == DataType::kFloat && p && half.count(p)) qdq.insert(n.get());
    } else if ((n->op_type == "DequantizeLinear" || isFloatQConv(*n)) && n->outputs.size() == 1 && n->outputs[0] &&
               n->outputs[0]->dtype == DataType::kFloat && !n->outputs[0]->is_graph_output &&
               !n->outputs[0]->consumers.empty()) {
      bool all = true;
      for (const ir::Node* c : n->outputs[0]->consumers) all = all && half.count(c);
      if (all) qdq.insert(n.get());
    }
  }
  half.insert(qdq.begin(), qdq.end());
  QRT_RETURN_IF_ERROR(passes::convertPrecision(g, half, DataType::kHalf));
  *converted_nodes = static_cast<int>(half.size());
  return Status::Ok();
}

}  // namespace qrt::cuda
