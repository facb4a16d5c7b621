// The tensor (shape and data-movement) op family: shape-inference functions, one per op, spread
// over a few files by kind (tensor.cpp holds the family table), and helpers they share.
#pragma once

#include <optional>
#include <vector>

#include "ops/op.h"

namespace qrt::tensor_ops {

// tensor.cpp
Status inferIdentity(InferContext& ctx);
Status inferDropout(InferContext& ctx);
Status inferShape(InferContext& ctx);
Status inferSize(InferContext& ctx);
Status inferConstantOfShape(InferContext& ctx);
Status inferRange(InferContext& ctx);
// reshape_like.cpp
Status inferFlatten(InferContext& ctx);
Status inferReshape(InferContext& ctx);
Status inferSqueeze(InferContext& ctx);
Status inferUnsqueeze(InferContext& ctx);
Status inferExpand(InferContext& ctx);
Status inferTile(InferContext& ctx);
Status inferDepthToSpace(InferContext& ctx);
Status inferSpaceToDepth(InferContext& ctx);
// movement.cpp
Status inferTranspose(InferContext& ctx);
Status inferConcat(InferContext& ctx);
Status inferSplit(InferContext& ctx);
Status inferGather(InferContext& ctx);
Status inferSlice(InferContext& ctx);
// pad.cpp
Status inferPad(InferContext& ctx);
// index_ops.cpp
Status inferGatherElements(InferContext& ctx);
Status inferGatherND(InferContext& ctx);
Status inferScatterElements(InferContext& ctx);  // also Scatter (opsets 9-10)
Status inferScatterND(InferContext& ctx);
Status inferOneHot(InferContext& ctx);
Status inferTrilu(InferContext& ctx);
Status inferEyeLike(InferContext& ctx);

// The value of input i as int64s when it is known at this time, else nullopt.
std::optional<std::vector<int64_t>> knownInts(const InferContext& ctx, size_t i);
// Fails unless input i is present with an integer dtype (int32/int64 unless `any_int`) and,
// when `one_d`, of rank 0 or 1.
Status requireIndexInput(const InferContext& ctx, size_t i, const char* what, bool any_int = false, bool one_d = true);
// Dims of `rank` unknown (-1) extents.
inline Dims unknownDims(int64_t rank) { return Dims(static_cast<size_t>(rank), -1); }

}  // namespace qrt::tensor_ops
