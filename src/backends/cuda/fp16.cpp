// FP16 for the CUDA backend (BuilderFlag::kFP16): every device node whose op has an fp16 CUDA
// kernel runs in fp16. The dtype rewrite itself (constants converted once, Casts where fp16 and
// fp32 nodes meet, graph inputs and outputs kept fp32) is the shared pass
// passes::convertPrecision, which the host builder uses for its per-layer precisions too. Host
// nodes (shape computations) are left alone.
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/runtime.h"
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

}  // namespace

Status convertToHalf(ir::Graph& g, int* converted_nodes) {
  g.rebuildUses();
  const std::set<const ir::Node*> host = hostNodes(g);
  std::set<const ir::Node*> half;
  for (const auto& n : g.nodes())
    if (!host.count(n.get()) && hasHalfKernel(*n)) half.insert(n.get());
  QRT_RETURN_IF_ERROR(passes::convertPrecision(g, half, DataType::kHalf));
  *converted_nodes = static_cast<int>(half.size());
  return Status::Ok();
}

}  // namespace qrt::cuda
