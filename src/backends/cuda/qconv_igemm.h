// QConv on qrt's INT8 implicit-GEMM kernel (qconv_igemm.cu) for dense 2-D layers (group 1,
// channels-last, C and K multiples of 16), with or without the int8 residual z: where the stored
// tactic is "ig<tile>" (it beat cuDNN's int8 plans at build time). Shapes without a tactic run on
// cuDNN unless QRT_CUDA_IGEMM=on (=off never takes the kernel).
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/conv_graph.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// createQConv's step for dense layers: `cudnn` as it is where the node is no 2-D group-1
// convolution, else a kernel that picks the implicit-GEMM kernel at reshape when the rule above
// says so and runs `cudnn` otherwise.
Result<std::unique_ptr<Kernel>> withQIgemm(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                           const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn);

// The implicit-GEMM kernel as a tactic candidate for a QConv node at its build shapes: every tile
// shape is timed by `time`, the fastest is `tactic` ("ig<tile>"). kUnsupported where the kernel
// does not compute the node.
Status qconvIgemmCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                           double* us);

}  // namespace qrt::cuda
