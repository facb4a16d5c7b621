#include "runtime/kernel_factory.h"

#include "backends/reference/kernel_table.h"

namespace qrt {

Result<std::unique_ptr<Kernel>> createKernel(const ir::Node& node) {
  if (node.backend == kBackendReference || node.backend == kBackendHost) {
    const KernelEntry* e = reference::findKernel(node);
    if (!e) return unsupported(node.describe(), ": the reference backend has no kernel for it");
    auto k = e->create(node);
    if (!k.ok()) return k.status();
    return std::move(k).value();
  }
  return unsupported(node.describe(), ": backend '", node.backend, "' is not compiled into this qrt");
}

}  // namespace qrt
