// Resize / Upsample attributes and geometry, shared by shape inference (src/ops/resize.cpp) and
// the kernels, so that the output size and the per-axis scales are computed in one place.
//
// Opset differences folded in here:
//  * Upsample-7: scales attribute. Upsample-9 and Resize-10: inputs (X, scales). All three map
//    coordinates "asymmetric" (x / scale) and, for nearest, take the floor.
//  * Resize-11/13: inputs (X, roi, scales, sizes), any of the last three omitted or empty.
//  * Resize-18/19: `axes`, `keep_aspect_ratio_policy`; `antialias` is refused (unsupported).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "ir/graph.h"

namespace qrt {

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class ResizeCoord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNN,
  kTfCropAndResize,
};
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct ResizeAttrs {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  float extrapolation = 0.f;
  AspectPolicy policy = AspectPolicy::kStretch;
  std::vector<int64_t> axes;       // the opset-18 `axes` attribute as given; empty: every axis
  int roi_input = -1;              // input positions in this op/opset; -1: the op has no such input
  int scales_input = -1;
  int sizes_input = -1;
  std::vector<float> scales_attr;  // Upsample-7 takes its scales as an attribute
};

// Reads and validates the attributes (unknown modes, antialias) of a Resize or Upsample node.
Result<ResizeAttrs> parseResizeAttrs(const ir::Node& node);

// One of the roi / scales / sizes inputs as inference or a kernel sees it.
struct ResizeInput {
  bool present = false;  // given and not empty
  DataType dtype = DataType::kUndefined;
  int64_t numel = 0;
  const void* data = nullptr;  // nullptr when the value is not known yet
};

struct ResizeGeometry {
  Dims out_dims;               // -1 where the input dim is unknown
  std::vector<double> scales;  // per input axis: output/input length ratio used to map coordinates
};

// Output dims and per-axis scales from the scales or the sizes input (exactly one must be
// present). With scales, out = floor(in * scale) computed in double as ONNX's reference does;
// with sizes, scale = out / in. Returns nullopt when the needed input's value is unknown.
Result<std::optional<ResizeGeometry>> resizeGeometry(const std::string& who, const ResizeAttrs& attrs,
                                                     const Dims& in, const ResizeInput& scales,
                                                     const ResizeInput& sizes);

// The axes that roi/scales/sizes refer to, normalized: `axes` or 0..rank-1.
Result<std::vector<int64_t>> resizeAxes(const std::string& who, const ResizeAttrs& attrs, int64_t rank);

// The ROI of one axis for tf_crop_and_resize: `start_scaled` = start * (in_len - 1) and it spans
// `extent` = end - start. Other modes ignore it.
struct AxisRoi {
  double extent = 1.0;
  double start_scaled = 0.0;
};

// The input coordinate of output index xi along one axis, per the coordinate transformation mode
// (in double, as ONNX's reference implementation computes it). Shared by every backend's Resize.
double originalCoord(const ResizeAttrs& a, int64_t xi, double scale, int64_t in_len, int64_t out_len,
                     const AxisRoi& roi = {});
// The input index nearest-mode picks for coordinate xo (before clamping).
int64_t nearestIndex(NearestMode m, double xo);

}  // namespace qrt
