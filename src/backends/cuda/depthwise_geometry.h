// Host-side set-up shared by the FP32/FP16 depthwise kernel (conv.cpp -> depthwise.cu) and the
// INT8 one (qdepthwise.cpp -> qdepthwise.cu): the geometry they take and their weight layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/cuda/depthwise_launch.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// The kernels' geometry of a 2-D depthwise convolution: x [N, C, H, W], w [C, 1, kh, kw],
// y [N, C, OH, OW] (logical dims) and its resolved 2-D window.
launch::DepthwiseGeometry depthwiseGeometry(const Dims& x, const Dims& w, const Dims& y, const Window& win,
                                            bool channels_last);

// Depthwise weights [C, 1, kh, kw] (elements of `elem` bytes) laid out [kh * kw, C]: one vector
// load then gives a tap's weights for consecutive channels.
std::vector<uint8_t> depthwiseWeightsTapMajor(const void* w, int64_t channels, int64_t taps, size_t elem);

}  // namespace qrt::cuda
