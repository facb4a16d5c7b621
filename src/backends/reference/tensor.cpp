// Placeholder: reference kernels of the tensor family (filled in by its owner).
#include "backends/reference/kernel_table.h"

namespace qrt::reference {
std::span<const KernelEntry> tensorKernels() { return {}; }
}  // namespace qrt::reference
