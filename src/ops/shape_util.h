// Helpers shared by shape-inference functions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "qrt/types.h"

namespace qrt {

// Multidirectional (numpy) broadcast of two shapes; dims of -1 stay -1 unless the other is >1.
// Returns nullopt when the shapes cannot broadcast.
std::optional<Dims> broadcastDims(const Dims& a, const Dims& b);
// Normalizes an axis in [-rank, rank) to [0, rank); nullopt when out of range.
std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank);
// Output size of one spatial dim of a conv/pool: floor or ceil of
// (in + pad_begin + pad_end - ((k - 1) * dilation + 1)) / stride + 1; -1 if in is -1.
int64_t convOutDim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pad_begin, int64_t pad_end,
                   bool ceil_mode = false);
// Resolves ONNX auto_pad (SAME_UPPER / SAME_LOWER / VALID / NOTSET) into explicit pads
// [b0, b1, ..., e0, e1, ...] for the given input spatial dims. Unknown dims give pads of 0.
std::vector<int64_t> resolveAutoPad(const std::string& auto_pad, const Dims& in_spatial, const std::vector<int64_t>& kernel,
                                    const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                                    const std::vector<int64_t>& pads);

}  // namespace qrt
