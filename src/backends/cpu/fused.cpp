// qrt's fused layers (domain "qrt", made by the fuse_conv_activation pass) on the cpu backend:
// FusedConv and FusedGemm are the Conv and Gemm kernels with an epilogue of oneDNN post-ops.
// oneDNN 2.6 has no hard-sigmoid eltwise: it is linear (alpha * x + beta) then clip to [0, 1].
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/layers.h"
#include "ops/fused_activation.h"

namespace qrt::cpu {

namespace {

Result<Epilogue> epilogueOf(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(FusedActivation act, readFusedActivation(node));
  Epilogue e;
  e.residual = node.hasInput(3);
  using K = FusedActivation::Kind;
  using A = dnnl::algorithm;
  switch (act.kind) {
    case K::kNone: break;
    case K::kRelu: e.eltwise.push_back({A::eltwise_relu, 0.f, 0.f}); break;
    case K::kLeakyRelu: e.eltwise.push_back({A::eltwise_relu, act.alpha, 0.f}); break;
    case K::kClip: e.eltwise.push_back({A::eltwise_clip, act.clip_min, act.clip_max}); break;
    case K::kHardSwish: e.eltwise.push_back({A::eltwise_hardswish, 0.f, 0.f}); break;
    case K::kHardSigmoid:
      e.eltwise.push_back({A::eltwise_linear, act.alpha, act.beta});
      e.eltwise.push_back({A::eltwise_clip, 0.f, 1.f});
      break;
    case K::kSigmoid: e.eltwise.push_back({A::eltwise_logistic, 0.f, 0.f}); break;
    case K::kSwish: e.eltwise.push_back({A::eltwise_swish, 1.f, 0.f}); break;
  }
  return e;
}

}  // namespace

Result<std::unique_ptr<Kernel>> createFusedConv(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(Epilogue e, epilogueOf(node));
  return makeConvKernel(node, false, std::move(e));
}

Result<std::unique_ptr<Kernel>> createFusedGemm(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(Epilogue e, epilogueOf(node));
  return makeGemmKernel(node, std::move(e));
}

}  // namespace qrt::cpu
