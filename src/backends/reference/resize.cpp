// Placeholder: reference kernels of the resize family (filled in by its owner).
#include "backends/reference/kernel_table.h"

namespace qrt::reference {
std::span<const KernelEntry> resizeKernels() { return {}; }
}  // namespace qrt::reference
