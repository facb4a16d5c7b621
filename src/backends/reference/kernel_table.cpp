#include "backends/reference/kernel_table.h"

namespace qrt::reference {

namespace {
using FamilyFn = std::span<const KernelEntry> (*)();
const FamilyFn kFamilies[] = {
    &elementwiseKernels, &nnKernels, &tensorKernels, &reduceKernels, &resizeKernels, &quantizeKernels,
};
}  // namespace

const KernelEntry* findKernel(const ir::Node& node) {
  for (FamilyFn f : kFamilies)
    for (const KernelEntry& e : f()) {
      if (node.op_type != e.op_type) continue;
      DataType t = node.hasInput(static_cast<size_t>(e.type_input)) ? node.inputs[e.type_input]->dtype
                                                                   : DataType::kUndefined;
      if (e.dtypes.contains(t)) return &e;
    }
  return nullptr;
}

bool hasOp(const std::string& op_type) {
  for (FamilyFn f : kFamilies)
    for (const KernelEntry& e : f())
      if (op_type == e.op_type) return true;
  return false;
}

}  // namespace qrt::reference
