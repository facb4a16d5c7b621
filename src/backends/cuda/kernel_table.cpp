#include "backends/cuda/kernel_table.h"

namespace qrt::cuda {

namespace {
using FamilyFn = std::span<const CudaKernelEntry> (*)();
const FamilyFn kFamilies[] = {&elementwiseKernels, &movementKernels, &nnKernels, &convKernels,
                               &gemmKernels,        &quantizeKernels, &qgemmKernels};

// The node's domain is the entry's ("ai.onnx" is the default domain "").
bool sameDomain(const std::string& node_domain, const char* entry_domain) {
  return node_domain == "ai.onnx" ? *entry_domain == '\0' : node_domain == entry_domain;
}
}  // namespace

const CudaKernelEntry* findKernel(const ir::Node& node) {
  for (FamilyFn f : kFamilies)
    for (const CudaKernelEntry& e : f()) {
      if (node.op_type != e.op_type || !sameDomain(node.domain, e.domain)) continue;
      DataType t = node.hasInput(static_cast<size_t>(e.type_input)) ? node.inputs[e.type_input]->dtype
                                                                   : DataType::kUndefined;
      if (e.dtypes.contains(t)) return &e;
    }
  return nullptr;
}

Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node, DeviceContext* dev) {
  const CudaKernelEntry* e = findKernel(node);
  if (!e) {
    DataType t = node.hasInput(0) ? node.inputs[0]->dtype : DataType::kUndefined;
    return unsupported(node.describe(), ": the CUDA backend has no kernel for it (input type ", dataTypeName(t), ")");
  }
  return e->create(node, dev);
}

}  // namespace qrt::cuda
