// --layer-precisions and --precision-constraints (trtexec's --layerPrecisions and
// --precisionConstraints): "name:fp32,name2:bf16,*:fp16"; a layer name may itself contain ':'
// (the precision follows the last one).
#include "builder/precision.h"
#include "commands.h"
#include "core/status_macros.h"

namespace qrt::cli {

Status applyPrecisionOptions(const BuildOptions& build, BuilderConfig* config) {
  const std::string& c = build.precision_constraints;
  if (c == "obey") config->setFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  else if (c == "prefer") config->setFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  else if (!c.empty() && c != "none")
    return invalidArgument("--precision-constraints must be none, prefer or obey, got '", c, "'");
  const std::string& spec = build.layer_precisions;
  size_t start = 0;
  while (start < spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    std::string item = spec.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    size_t colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      return invalidArgument("--layer-precisions '", item, "': expected NAME:PRECISION (e.g. conv1:fp32 or *:fp16)");
    auto p = parsePrecision(item.substr(colon + 1));
    if (!p.ok()) return p.status().withContext("--layer-precisions");
    config->setLayerPrecision(item.substr(0, colon), *p);
  }
  if (!c.empty() && c != "none" && spec.empty())
    return invalidArgument("--precision-constraints ", c, " needs --layer-precisions");
  return Status::Ok();
}

}  // namespace qrt::cli
