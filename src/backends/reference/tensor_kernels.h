// Factories of the reference tensor-family kernels, spread over a few files by kind; the family
// table is in tensor.cpp.
#pragma once

#include "backends/kernel.h"

namespace qrt::reference::tensor_kernels {

using KernelResult = Result<std::unique_ptr<Kernel>>;

// tensor.cpp: ops whose output is the input's bytes, and ops that make new data.
KernelResult createCopy(const ir::Node& node);  // Identity, Reshape, Flatten, Squeeze, Unsqueeze
KernelResult createDropout(const ir::Node& node);
KernelResult createShape(const ir::Node& node);
KernelResult createSize(const ir::Node& node);
KernelResult createConstantOfShape(const ir::Node& node);
KernelResult createRange(const ir::Node& node);
// tensor_movement.cpp
KernelResult createTranspose(const ir::Node& node);
KernelResult createExpand(const ir::Node& node);
KernelResult createTile(const ir::Node& node);
KernelResult createConcat(const ir::Node& node);
KernelResult createSplit(const ir::Node& node);
KernelResult createGather(const ir::Node& node);
KernelResult createSlice(const ir::Node& node);
KernelResult createDepthToSpace(const ir::Node& node);
KernelResult createSpaceToDepth(const ir::Node& node);
// pad.cpp
KernelResult createPad(const ir::Node& node);
// index_ops.cpp
KernelResult createGatherElements(const ir::Node& node);
KernelResult createGatherND(const ir::Node& node);
KernelResult createScatterElements(const ir::Node& node);  // also Scatter
KernelResult createScatterND(const ir::Node& node);
KernelResult createOneHot(const ir::Node& node);
KernelResult createTrilu(const ir::Node& node);
KernelResult createEyeLike(const ir::Node& node);

}  // namespace qrt::reference::tensor_kernels
