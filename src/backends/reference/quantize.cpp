// Placeholder: reference kernels of the quantize family (filled in by its owner).
#include "backends/reference/kernel_table.h"

namespace qrt::reference {
std::span<const KernelEntry> quantizeKernels() { return {}; }
}  // namespace qrt::reference
