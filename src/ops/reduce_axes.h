// Reduction axes of the Reduce* ops, shared by their shape inference and their kernels so both
// read `axes`, `keepdims` and `noop_with_empty_axes` the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "ir/graph.h"

namespace qrt {

// Where the axes come from: input 1 when present (ReduceSum since opset 13, the other Reduce ops
// since opset 18), else the `axes` attribute (absent = empty).
inline bool reduceAxesFromInput(const ir::Node& node) { return node.hasInput(1); }

// Which axes of a rank-`rank` input are reduced. Empty `axes` reduces every axis, or none when
// `noop_with_empty_axes` is set (the op is then the identity). Negative axes count from the back.
// Fails on an axis out of range or given twice; `who` names the node in the message.
Result<std::vector<bool>> reducedAxesMask(const std::string& who, int64_t rank, const std::vector<int64_t>& axes,
                                          bool noop_with_empty_axes);

// Output dims: reduced axes become 1 (keepdims) or are dropped.
Dims reducedDims(const Dims& in, const std::vector<bool>& mask, bool keepdims);

}  // namespace qrt
