#include "backends/reference/kernel_table.h"

namespace qrt::reference {

namespace {
using FamilyFn = std::span<const KernelEntry> (*)();
const FamilyFn kFamilies[] = {
    &elementwiseKernels, &nnKernels, &tensorKernels, &reduceKernels, &resizeKernels, &quantizeKernels, &qopsKernels,
    &fusedKernels,
};

// The node's domain is the entry's ("ai.onnx" is the default domain "").
bool sameDomain(const std::string& node_domain, const char* entry_domain) {
  return node_domain == "ai.onnx" ? *entry_domain == '\0' : node_domain == entry_domain;
}
}  // namespace

const KernelEntry* findKernel(const ir::Node& node) {
  for (FamilyFn f : kFamilies)
    for (const KernelEntry& e : f()) {
      if (node.op_type != e.op_type || !sameDomain(node.domain, e.domain)) continue;
      DataType t = node.hasInput(static_cast<size_t>(e.type_input)) ? node.inputs[e.type_input]->dtype
                                                                   : DataType::kUndefined;
      if (e.dtypes.contains(t)) return &e;
    }
  return nullptr;
}

bool hasOp(const std::string& op_type) {
  for (FamilyFn f : kFamilies)
    for (const KernelEntry& e : f())
      if (op_type == e.op_type && *e.domain == '\0') return true;
  return false;
}

}  // namespace qrt::reference
