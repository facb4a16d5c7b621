// Host-side set-up of qrt's own convolution kernels: the 2-D shape they all take (depthwise,
// stem, int8 implicit GEMM), the depthwise kernels' geometry (FP32/FP16: conv.cpp -> depthwise.cu;
// INT8: qdepthwise.cpp -> qdepthwise.cu) and their weight layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/cuda/depthwise_launch.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// The 2-D shape of a convolution from its logical dims x [N, C, H, W], w [M, C / group, kh, kw],
// y [N, M, OH, OW] and its resolved 2-D window.
launch::Conv2dShape conv2dShape(const Dims& x, const Dims& w, const Dims& y, const Window& win);

// The kernels' geometry of a 2-D depthwise convolution: x [N, C, H, W], w [C, 1, kh, kw],
// y [N, C, OH, OW] (logical dims) and its resolved 2-D window.
launch::DepthwiseGeometry depthwiseGeometry(const Dims& x, const Dims& w, const Dims& y, const Window& win,
                                            bool channels_last);

// Depthwise weights [C, 1, kh, kw] (elements of `elem` bytes) laid out [kh * kw, C]: one vector
// load then gives a tap's weights for consecutive channels.
std::vector<uint8_t> depthwiseWeightsTapMajor(const void* w, int64_t channels, int64_t taps, size_t elem);

}  // namespace qrt::cuda
