// Placeholder: the tensor op family (filled in by its owner).
#include "ops/op_table.h"

namespace qrt {
std::span<const OpDef> tensorOps() { return {}; }
}  // namespace qrt
