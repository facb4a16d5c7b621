// The float tail of INT8 residual blocks, Add(a, b) [-> Relu] -> QuantizeLinear, fused into qrt's
// AddQuantize (src/ops/int8_fused.cpp): the match and the rewrite, shared by the backends that
// have the kernel (passes/cpu_add_quantize.cpp, backends/cuda/fuse_add_quantize.cpp), which
// differ only in which nodes they may take and in how they finish the new node.
#pragma once

#include <functional>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Fuses every Add(a, b) [-> Relu] -> QuantizeLinear where: the Q is per tensor (one constant fp32
// scale, one constant zero point of the output's type), a and b are non-constant fp32 values of
// one shape (or fp16 ones, with `half`: the CUDA backend's --int8 --fp16 engines), the Add's (and Relu's) value is of their type, the Add's output is read by the Relu alone when
// there is one, and the nodes agree on their layout (qrt_nhwc). `eligible` must hold for each of
// the Q, Relu and Add (the caller's backend); `made` is called on each new node with the Q it
// replaces (backend, precision, validation; an error fails the pass). The Add/Relu value is kept as a second output when anything else reads it.
Status fuseAddQuantizeTails(ir::Graph& g, const std::function<bool(const ir::Node&)>& eligible,
                            const std::function<Status(ir::Node& fused, const ir::Node& q)>& made, int* fused,
                            bool half = false);

}  // namespace qrt::passes
