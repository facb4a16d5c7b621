// Placeholder: reference kernels of the elementwise family (filled in by its owner).
#include "backends/reference/kernel_table.h"

namespace qrt::reference {
std::span<const KernelEntry> elementwiseKernels() { return {}; }
}  // namespace qrt::reference
