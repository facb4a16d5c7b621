// Argument resolution shared by the tensor family's shape inference (src/ops/) and its kernels
// (src/backends/*): Slice's starts/ends/axes/steps and Pad's pads/axes are interpreted in one
// place, so that the inferred output shape and what a kernel copies cannot disagree.
//
// The functions read their arguments through TensorView and write into caller-owned spans, so a
// kernel can call them from run() without allocating (its spans are sized in reshape()).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "qrt/status.h"

namespace qrt {

// Element i of an integer (or bool) tensor as int64. Shape-like inputs are int32 or int64.
int64_t intAt(const TensorView& t, int64_t i);

// Element count of a 1-D shape-like input of dims `d` (a scalar counts as 1); -1 if unknown.
int64_t lengthOf(const Dims& d);

// One axis of a slice: output index j reads input index start + j * step.
struct SliceAxis {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;  // output extent; -1 when the input dim is unknown
};

// Slice's arguments as 1-D integer views; axes and steps may be null (all axes in order / 1).
struct SliceArgs {
  const TensorView* starts = nullptr;
  const TensorView* ends = nullptr;
  const TensorView* axes = nullptr;
  const TensorView* steps = nullptr;
};

// Resolves a Slice over input dims `in` into out[d] for every axis d (out.size() == in.size()).
// Axes not named keep start 0, step 1, count in[d]. Negative starts/ends count from the end;
// then, as the ONNX spec says, for step > 0 both are clamped to [0, dim], for step < 0 start to
// [0, dim - 1] and end to [-1, dim - 1] (so INT64_MAX / INT64_MIN act as "to the end").
// Errors: length mismatches, axis out of range or repeated, step 0.
Status resolveSlice(const Dims& in, const SliceArgs& args, std::span<SliceAxis> out);

// Resolves Pad's pads ([b_0.., e_0..] over `axes`, or over all axes when axes is null) into
// begin_end = [b_0 .. b_{r-1}, e_0 .. e_{r-1}] for a tensor of the given rank (size 2 * rank).
// Axes not named get 0. Negative pads crop.
Status resolvePads(size_t rank, const TensorView& pads, const TensorView* axes, std::span<int64_t> begin_end);

}  // namespace qrt
