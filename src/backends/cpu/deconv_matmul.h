// ConvTranspose with kernel == stride on NHWC activations as one batched oneDNN matmul
// (deconv_matmul.cpp). Used by conv.cpp's ConvTranspose factory before the generic kernel.
#pragma once

#include "backends/kernel.h"

namespace qrt::cpu {

// The kernel, or nullptr when the node is not such an upsampling (then the generic one applies).
Result<std::unique_ptr<Kernel>> makeDeconvMatmulKernel(const ir::Node& node);

}  // namespace qrt::cpu
