// Placeholder: the nn op family (filled in by its owner).
#include "ops/op_table.h"

namespace qrt {
std::span<const OpDef> nnOps() { return {}; }
}  // namespace qrt
