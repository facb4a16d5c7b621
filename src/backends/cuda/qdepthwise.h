// QConv on qrt's INT8 depthwise kernel (qdepthwise.cu) for depthwise layers (group == C == M,
// 2-D, channels-last), as the FP16 ConvKernel takes depthwise.cu: where the stored tactic is
// "dw" (it beat cuDNN's int8 plans at build time), or by default for a layer without a tactic
// for its shapes. QRT_CUDA_DEPTHWISE=off never takes it, =on always where it applies.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/conv_graph.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// createQConv's last step: `cudnn` (the cuDNN QConv kernel of `node`) as it is where the node is
// no depthwise convolution the kernel computes, else a kernel that picks qrt's depthwise kernel
// at reshape when the rule above says so and runs `cudnn` otherwise.
Result<std::unique_ptr<Kernel>> withQDepthwise(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                               const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn);

// qrt's INT8 depthwise kernel as a tactic candidate for a QConv node at its build shapes
// (constant weights and scales from the IR, scratch data elsewhere), timed by `time`; `tactic`
// is "dw". kUnsupported where the node is no depthwise convolution the kernel computes.
Status qdepthwiseConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                               double* us);

}  // namespace qrt::cuda
