#include "ops/op_table.h"

#include <algorithm>
#include <cstring>

namespace qrt {

namespace {
using FamilyFn = std::span<const OpDef> (*)();
const FamilyFn kFamilies[] = {
    &elementwiseOps, &nnOps, &tensorOps, &reduceOps, &resizeOps, &quantizeOps, &qrtOps,
    &fusedOps,      &int8FusedOps,
};
}  // namespace

const OpDef* findOp(const std::string& domain, const std::string& op_type) {
  const char* d = domain == "ai.onnx" ? "" : domain.c_str();
  for (FamilyFn f : kFamilies)
    for (const OpDef& def : f())
      if (op_type == def.op_type && std::strcmp(d, def.domain) == 0) return &def;
  return nullptr;
}

const OpDef* findOp(const std::string& op_type) { return findOp(std::string(), op_type); }

std::vector<std::string> supportedOps() {
  std::vector<std::string> names;
  for (FamilyFn f : kFamilies)
    for (const OpDef& d : f())
      if (*d.domain == '\0') names.emplace_back(d.op_type);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace qrt
