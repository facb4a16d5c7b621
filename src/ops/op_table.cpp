#include "ops/op_table.h"

#include <algorithm>

namespace qrt {

namespace {
using FamilyFn = std::span<const OpDef> (*)();
const FamilyFn kFamilies[] = {
    &elementwiseOps, &nnOps, &tensorOps, &reduceOps, &resizeOps, &quantizeOps,
};
}  // namespace

const OpDef* findOp(const std::string& op_type) {
  for (FamilyFn f : kFamilies)
    for (const OpDef& d : f())
      if (op_type == d.op_type) return &d;
  return nullptr;
}

std::vector<std::string> supportedOps() {
  std::vector<std::string> names;
  for (FamilyFn f : kFamilies)
    for (const OpDef& d : f()) names.emplace_back(d.op_type);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace qrt
