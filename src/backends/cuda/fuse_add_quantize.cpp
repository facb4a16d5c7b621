// The CUDA builder step that fuses the float tail of INT8 residual blocks (see
// src/ops/int8_fused.cpp): Add(a, b) [-> Relu] -> QuantizeLinear (per tensor, constant scale and
// zero point) becomes one AddQuantize node whose second output keeps the Add/Relu value when
// anything else reads it (ResNet's next residual). Runs after the layout assignment, so both
// Add inputs are already in the Add's layout; the fused node inherits it.
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/runtime.h"
#include "passes/add_quantize_tail.h"

namespace qrt::cuda {

// The match is passes/add_quantize_tail.h's; the CUDA backend takes every node it runs (those
// not computed on the host at reshape), fp32 or fp16 (an --int8 --fp16 engine's Adds: the
// PP-OCRv4 detector has 20 Add -> QuantizeLinear pairs, two kernels each before).
Status fuseAddQuantize(ir::Graph& g, int* fused) {
  const std::set<const ir::Node*> host = hostNodes(g);
  return passes::fuseAddQuantizeTails(
      g, [&](const ir::Node& n) { return host.count(&n) == 0; },
      [](ir::Node&, const ir::Node&) { return Status::Ok(); }, fused, /*half=*/true);
}

}  // namespace qrt::cuda
