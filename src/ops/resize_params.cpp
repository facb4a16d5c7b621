#include "ops/resize_params.h"

#include <algorithm>
#include <cmath>

namespace qrt {

namespace {

Status parseMode(const ir::Node& node, bool cubic_allowed, ResizeAttrs& a) {
  const std::string mode = node.attrString("mode", "nearest");
  if (mode == "nearest") a.mode = ResizeMode::kNearest;
  else if (mode == "linear" || mode == "bilinear") a.mode = ResizeMode::kLinear;  // "bilinear": Upsample-1 spelling
  else if (mode == "cubic" && cubic_allowed) a.mode = ResizeMode::kCubic;
  else return invalidArgument(node.describe(), ": unknown mode '", mode, "'");
  return Status::Ok();
}

Status parseCoord(const ir::Node& node, ResizeAttrs& a) {
  const std::string c = node.attrString("coordinate_transformation_mode", "half_pixel");
  if (c == "half_pixel") a.coord = ResizeCoord::kHalfPixel;
  else if (c == "half_pixel_symmetric") a.coord = ResizeCoord::kHalfPixelSymmetric;
  else if (c == "pytorch_half_pixel") a.coord = ResizeCoord::kPytorchHalfPixel;
  else if (c == "align_corners") a.coord = ResizeCoord::kAlignCorners;
  else if (c == "asymmetric") a.coord = ResizeCoord::kAsymmetric;
  else if (c == "tf_half_pixel_for_nn") a.coord = ResizeCoord::kTfHalfPixelForNN;
  else if (c == "tf_crop_and_resize") a.coord = ResizeCoord::kTfCropAndResize;
  else return invalidArgument(node.describe(), ": unknown coordinate_transformation_mode '", c, "'");
  return Status::Ok();
}

Status parseNearest(const ir::Node& node, ResizeAttrs& a) {
  const std::string m = node.attrString("nearest_mode", "round_prefer_floor");
  if (m == "round_prefer_floor") a.nearest = NearestMode::kRoundPreferFloor;
  else if (m == "round_prefer_ceil") a.nearest = NearestMode::kRoundPreferCeil;
  else if (m == "floor") a.nearest = NearestMode::kFloor;
  else if (m == "ceil") a.nearest = NearestMode::kCeil;
  else return invalidArgument(node.describe(), ": unknown nearest_mode '", m, "'");
  return Status::Ok();
}

Status parsePolicy(const ir::Node& node, ResizeAttrs& a) {
  const std::string p = node.attrString("keep_aspect_ratio_policy", "stretch");
  if (p == "stretch") a.policy = AspectPolicy::kStretch;
  else if (p == "not_larger") a.policy = AspectPolicy::kNotLarger;
  else if (p == "not_smaller") a.policy = AspectPolicy::kNotSmaller;
  else return invalidArgument(node.describe(), ": unknown keep_aspect_ratio_policy '", p, "'");
  return Status::Ok();
}

// Copies n elements of any numeric dtype into a vector of To.
template <typename To>
std::vector<To> readValues(const ResizeInput& in, DataType to) {
  std::vector<To> v(static_cast<size_t>(in.numel));
  convertElements(in.data, in.dtype, v.data(), to, in.numel);
  return v;
}

}  // namespace

Result<ResizeAttrs> parseResizeAttrs(const ir::Node& node) {
  ResizeAttrs a;
  // The pre-11 ops (Upsample, Resize-10) map x_out -> x_out / scale and floor for nearest, which
  // makes integer upsampling a plain repeat, as their specs' examples show.
  const bool legacy = node.op_type == "Upsample" || node.opset < 11;
  if (legacy) {
    QRT_RETURN_IF_ERROR(parseMode(node, false, a));
    a.coord = ResizeCoord::kAsymmetric;
    a.nearest = NearestMode::kFloor;
    if (node.op_type == "Upsample" && node.opset < 9) {
      a.scales_attr = node.attrFloats("scales");
      if (a.scales_attr.empty()) return invalidArgument(node.describe(), ": attribute 'scales' is required");
    } else {
      a.scales_input = 1;
    }
    return a;
  }
  QRT_RETURN_IF_ERROR(parseMode(node, true, a));
  QRT_RETURN_IF_ERROR(parseCoord(node, a));
  QRT_RETURN_IF_ERROR(parseNearest(node, a));
  QRT_RETURN_IF_ERROR(parsePolicy(node, a));
  a.cubic_a = node.attrFloat("cubic_coeff_a", -0.75f);
  a.exclude_outside = node.attrInt("exclude_outside", 0) != 0;
  a.extrapolation = node.attrFloat("extrapolation_value", 0.f);
  a.axes = node.attrInts("axes");
  if (node.attrInt("antialias", 0) != 0 && a.mode != ResizeMode::kNearest)
    return unsupported(node.describe(), ": antialias=1 is not implemented");
  a.roi_input = 1;
  a.scales_input = 2;
  a.sizes_input = 3;
  return a;
}

Result<std::vector<int64_t>> resizeAxes(const std::string& who, const ResizeAttrs& attrs, int64_t rank) {
  std::vector<int64_t> axes;
  if (attrs.axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) axes.push_back(i);
    return axes;
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : attrs.axes) {
    if (a < -rank || a >= rank) return invalidArgument(who, ": axis ", a, " is out of range for rank ", rank);
    const int64_t k = a < 0 ? a + rank : a;
    if (seen[k]) return invalidArgument(who, ": axis ", a, " is given twice");
    seen[k] = true;
    axes.push_back(k);
  }
  return axes;
}

Result<std::optional<ResizeGeometry>> resizeGeometry(const std::string& who, const ResizeAttrs& attrs, const Dims& in,
                                                     const ResizeInput& scales_in, const ResizeInput& sizes_in) {
  const bool has_scales = !attrs.scales_attr.empty() || scales_in.present;
  if (has_scales && sizes_in.present) return invalidArgument(who, ": only one of 'scales' and 'sizes' may be given");
  if (!has_scales && !sizes_in.present) return invalidArgument(who, ": one of 'scales' and 'sizes' is required");
  const int64_t rank = static_cast<int64_t>(in.size());
  QRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resizeAxes(who, attrs, rank));
  const size_t n = axes.size();

  ResizeGeometry g;
  g.out_dims = in;
  g.scales.assign(in.size(), 1.0);
  if (has_scales) {
    std::vector<float> s = attrs.scales_attr;
    if (s.empty()) {
      if (!scales_in.data) return std::optional<ResizeGeometry>();
      s = readValues<float>(scales_in, DataType::kFloat);
    }
    if (s.size() != n) return invalidArgument(who, ": 'scales' has ", s.size(), " values, expected ", n);
    for (size_t i = 0; i < n; ++i) {
      if (!(s[i] > 0.f)) return invalidArgument(who, ": scale ", s[i], " is not positive");
      const int64_t d = axes[i];
      g.scales[d] = static_cast<double>(s[i]);
      // ONNX's reference: (float32 scale * int64 dim) in float64, truncated.
      g.out_dims[d] = in[d] < 0 ? -1 : static_cast<int64_t>(g.scales[d] * static_cast<double>(in[d]));
    }
    return std::optional<ResizeGeometry>(std::move(g));
  }

  if (!sizes_in.data) return std::optional<ResizeGeometry>();
  const std::vector<int64_t> sizes = readValues<int64_t>(sizes_in, DataType::kInt64);
  if (sizes.size() != n) return invalidArgument(who, ": 'sizes' has ", sizes.size(), " values, expected ", n);
  for (size_t i = 0; i < n; ++i) {
    if (sizes[i] < 0) return invalidArgument(who, ": size ", sizes[i], " is negative");
    g.out_dims[axes[i]] = sizes[i];
  }
  if (attrs.policy != AspectPolicy::kStretch) {
    // One scale for all the given axes, so that the output fits in (not_larger) or covers
    // (not_smaller) the requested sizes; then out = round-half-up(scale * in).
    double scale = attrs.policy == AspectPolicy::kNotLarger ? INFINITY : 0.0;
    bool known = true;
    for (size_t i = 0; i < n; ++i) {
      const int64_t d = axes[i];
      if (in[d] <= 0) { known = false; continue; }
      const double r = static_cast<double>(sizes[i]) / static_cast<double>(in[d]);
      scale = attrs.policy == AspectPolicy::kNotLarger ? std::min(scale, r) : std::max(scale, r);
    }
    for (int64_t d : axes)
      g.out_dims[d] = known ? static_cast<int64_t>(std::floor(scale * static_cast<double>(in[d]) + 0.5)) : -1;
  }
  for (int64_t d : axes)
    if (in[d] > 0 && g.out_dims[d] >= 0) g.scales[d] = static_cast<double>(g.out_dims[d]) / static_cast<double>(in[d]);
  return std::optional<ResizeGeometry>(std::move(g));
}

double originalCoord(const ResizeAttrs& a, int64_t xi, double scale, int64_t in_len, int64_t out_len,
                     const AxisRoi& roi) {
  const double x = static_cast<double>(xi);
  const double in = static_cast<double>(in_len);
  const double width = scale * in;  // the resized length as ONNX's reference computes it
  switch (a.coord) {
    case ResizeCoord::kHalfPixel: return (x + 0.5) / scale - 0.5;
    case ResizeCoord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out_len) / width;
      const double offset = in / 2.0 * (1.0 - adjustment);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case ResizeCoord::kPytorchHalfPixel: return out_len > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case ResizeCoord::kAlignCorners: return out_len > 1 ? x * (in - 1.0) / (width - 1.0) : 0.0;
    case ResizeCoord::kAsymmetric: return x / scale;
    case ResizeCoord::kTfHalfPixelForNN: return (x + 0.5) / scale;
    case ResizeCoord::kTfCropAndResize:
      if (out_len == 1) return roi.start_scaled + roi.extent * (in - 1.0) / 2.0;
      return x * roi.extent * (in - 1.0) / (width - 1.0) + roi.start_scaled;
  }
  return 0.0;
}

int64_t nearestIndex(NearestMode m, double xo) {
  const double fl = std::floor(xo);
  const int64_t f = static_cast<int64_t>(fl);
  if (xo == fl) return f;
  const double r = xo - fl;
  switch (m) {
    case NearestMode::kRoundPreferFloor: return r <= 0.5 ? f : f + 1;
    case NearestMode::kRoundPreferCeil: return r < 0.5 ? f : f + 1;
    case NearestMode::kFloor: return f;
    case NearestMode::kCeil: return f + 1;
  }
  return f;
}

}  // namespace qrt
