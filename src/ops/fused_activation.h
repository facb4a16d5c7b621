// The activation a fused op (qrt's FusedConv, FusedGemm) applies to its result, as node
// attributes:
//   activation = "none" | "relu" | "leaky_relu" | "clip" | "hard_swish" | "hard_sigmoid" |
//                "sigmoid" | "swish"
//   alpha, beta          leaky_relu (alpha), hard_sigmoid (alpha, beta)
//   clip_min, clip_max   clip (absent: no bound)
// "swish" is x * sigmoid(x) (SiLU; ONNX writes it as Mul(x, Sigmoid(x))).
//
// applyActivation computes each exactly as the reference kernel of the ONNX op does
// (src/backends/reference/unary.cpp, Clip's kernel), so a fused layer equals its unfused chain
// bit for bit in fp32; keep the two in step.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt {

struct FusedActivation {
  enum class Kind { kNone, kRelu, kLeakyRelu, kClip, kHardSwish, kHardSigmoid, kSigmoid, kSwish };
  Kind kind = Kind::kNone;
  float alpha = 0.f, beta = 0.f;
  float clip_min = -std::numeric_limits<float>::infinity();
  float clip_max = std::numeric_limits<float>::infinity();
};

// The attribute name of a kind ("hard_swish").
const char* activationName(FusedActivation::Kind kind);
// Reads and validates the attributes of a fused node (errors name the node).
Result<FusedActivation> readFusedActivation(const ir::Node& node);
// Writes the attributes (only those the kind uses).
void writeFusedActivation(ir::Node& node, const FusedActivation& act);

// The activation of x, in the compute type C (float for fp32/fp16/bf16, double for fp64).
template <typename C>
C applyActivation(const FusedActivation& a, C x) {
  using K = FusedActivation::Kind;
  switch (a.kind) {
    case K::kNone: return x;
    case K::kRelu: return x < C(0) ? C(0) : x;
    case K::kLeakyRelu: return x < C(0) ? static_cast<C>(a.alpha) * x : x;
    case K::kClip: {
      const C lo = static_cast<C>(a.clip_min), hi = static_cast<C>(a.clip_max);
      if (x < lo) x = lo;
      if (x > hi) x = hi;
      return x;
    }
    case K::kHardSwish: return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
    case K::kHardSigmoid:
      return std::max(C(0), std::min(C(1), static_cast<C>(a.alpha) * x + static_cast<C>(a.beta)));
    case K::kSigmoid: return C(1) / (C(1) + std::exp(-x));
    case K::kSwish: return x * (C(1) / (C(1) + std::exp(-x)));
  }
  return x;
}

}  // namespace qrt
