// The pool kernels' launch geometry from ONNX window attributes, shared by the FP32/FP16 pools
// (nn.cpp) and the int8 MaxPool (quantize_ops.cpp).
#pragma once

#include <string>

#include "backends/cuda/launch.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// The geometry of pooling `x` (N, C, 1 to 3 spatial dims; fewer than 3 fill the leading slots
// with extent 1). count_include_pad is left false: average pools set it. Unsupported for other
// ranks; `who` names the node.
Result<launch::PoolGeometry> poolGeometry(const WindowAttrs& attrs, const Dims& x, bool nhwc, const std::string& who);

}  // namespace qrt::cuda
