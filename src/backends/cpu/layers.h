// The Conv and Gemm kernels with an epilogue, for qrt's fused layers (FusedConv, FusedGemm):
// y = act(layer + Z), as oneDNN post-ops. The plain ONNX ops use an empty epilogue.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

#include "backends/kernel.h"

namespace qrt::cpu {

struct Epilogue {
  struct Eltwise {
    dnnl::algorithm alg;
    float alpha = 0.f, beta = 0.f;
  };
  bool residual = false;         // input 3 (Z) is added to the layer's result (a sum post-op)
  std::vector<Eltwise> eltwise;  // then these, in order
};

// The post-ops of an epilogue: a sum (scale 1) first when `sum`, then the eltwise steps.
dnnl::post_ops postOps(const Epilogue& e, bool sum);

// Conv (transpose: ConvTranspose) or FusedConv; Gemm or FusedGemm (A of rank > 2 allowed).
Result<std::unique_ptr<Kernel>> makeConvKernel(const ir::Node& node, bool transpose, Epilogue epilogue);
Result<std::unique_ptr<Kernel>> makeGemmKernel(const ir::Node& node, Epilogue epilogue);

}  // namespace qrt::cpu
