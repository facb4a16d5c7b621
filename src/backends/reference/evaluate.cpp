#include "backends/reference/evaluate.h"

#include "backends/reference/kernel_table.h"

namespace qrt::reference {

Result<std::vector<HostTensor>> evaluateNode(const ir::Node& node, const std::vector<const HostTensor*>& inputs) {
  const KernelEntry* entry = findKernel(node);
  if (!entry) return unsupported(node.describe(), ": no reference kernel for its input types");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, entry->create(node));
  std::vector<TensorView> ins;
  for (const HostTensor* t : inputs) ins.push_back(t ? t->view() : TensorView{});
  std::vector<HostTensor> outs;
  std::vector<TensorView> out_views;
  for (const ir::Value* o : node.outputs) {
    if (!o) {
      outs.emplace_back();
      out_views.emplace_back();
      continue;
    }
    if (volume(o->dims) < 0) return internalError(node.describe(), ": output '", o->name, "' has unknown dims");
    outs.emplace_back(o->dtype, o->dims);
    out_views.push_back(outs.back().view());
  }
  QRT_RETURN_IF_ERROR(kernel->reshape(ins, out_views));
  std::vector<uint8_t> workspace(kernel->workspaceBytes() + 64);
  QRT_RETURN_IF_ERROR(kernel->run(ins, out_views, workspace.data()));
  return outs;
}

}  // namespace qrt::reference
