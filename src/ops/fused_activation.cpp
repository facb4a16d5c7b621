#include "ops/fused_activation.h"

#include "core/status_macros.h"

namespace qrt {

namespace {

struct KindName {
  FusedActivation::Kind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {FusedActivation::Kind::kNone, "none"},
    {FusedActivation::Kind::kRelu, "relu"},
    {FusedActivation::Kind::kLeakyRelu, "leaky_relu"},
    {FusedActivation::Kind::kClip, "clip"},
    {FusedActivation::Kind::kHardSwish, "hard_swish"},
    {FusedActivation::Kind::kHardSigmoid, "hard_sigmoid"},
    {FusedActivation::Kind::kSigmoid, "sigmoid"},
    {FusedActivation::Kind::kSwish, "swish"},
};

}  // namespace

const char* activationName(FusedActivation::Kind kind) {
  for (const KindName& k : kKinds)
    if (k.kind == kind) return k.name;
  return "none";
}

Result<FusedActivation> readFusedActivation(const ir::Node& node) {
  FusedActivation a;
  const std::string name = node.attrString("activation", "none");
  bool known = false;
  for (const KindName& k : kKinds)
    if (name == k.name) {
      a.kind = k.kind;
      known = true;
    }
  if (!known)
    return invalidArgument(node.describe(), ": unknown activation '", name,
                           "' (none, relu, leaky_relu, clip, hard_swish, hard_sigmoid, sigmoid or swish)");
  using K = FusedActivation::Kind;
  if (a.kind == K::kLeakyRelu) a.alpha = node.attrFloat("alpha", 0.01f);
  if (a.kind == K::kHardSigmoid) {
    a.alpha = node.attrFloat("alpha", 0.2f);
    a.beta = node.attrFloat("beta", 0.5f);
  }
  if (a.kind == K::kClip) {
    a.clip_min = node.attrFloat("clip_min", a.clip_min);
    a.clip_max = node.attrFloat("clip_max", a.clip_max);
    if (std::isnan(a.clip_min) || std::isnan(a.clip_max))
      return invalidArgument(node.describe(), ": clip bounds must not be NaN");
  }
  return a;
}

void writeFusedActivation(ir::Node& node, const FusedActivation& a) {
  using K = FusedActivation::Kind;
  node.attrs["activation"] = ir::Attribute::String(activationName(a.kind));
  if (a.kind == K::kLeakyRelu || a.kind == K::kHardSigmoid) node.attrs["alpha"] = ir::Attribute::Float(a.alpha);
  if (a.kind == K::kHardSigmoid) node.attrs["beta"] = ir::Attribute::Float(a.beta);
  if (a.kind == K::kClip) {
    if (!std::isinf(a.clip_min)) node.attrs["clip_min"] = ir::Attribute::Float(a.clip_min);
    if (!std::isinf(a.clip_max)) node.attrs["clip_max"] = ir::Attribute::Float(a.clip_max);
  }
}

}  // namespace qrt
