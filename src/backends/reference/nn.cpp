// Placeholder: reference kernels of the nn family (filled in by its owner).
#include "backends/reference/kernel_table.h"

namespace qrt::reference {
std::span<const KernelEntry> nnKernels() { return {}; }
}  // namespace qrt::reference
