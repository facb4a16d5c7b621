#include "ops/shape_util.h"

#include <algorithm>
#include <string>

namespace qrt {

std::optional<Dims> broadcastDims(const Dims& a, const Dims& b) {
  size_t r = std::max(a.size(), b.size());
  Dims out(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x == y) out[i] = x;
    else if (x == 1) out[i] = y;
    else if (y == 1) out[i] = x;
    else if (x == -1 || y == -1) out[i] = std::max(x, y) > 1 ? std::max(x, y) : -1;
    else return std::nullopt;
  }
  return out;
}

std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    if (!(rank == 0 && (axis == 0 || axis == -1))) return std::nullopt;
  }
  return axis < 0 ? axis + rank : axis;
}

int64_t convOutDim(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t pb, int64_t pe, bool ceil_mode) {
  if (in < 0) return -1;
  int64_t eff = (k - 1) * dilation + 1;
  int64_t span = in + pb + pe - eff;
  if (span < 0) return 0;
  int64_t out = ceil_mode ? (span + stride - 1) / stride + 1 : span / stride + 1;
  // ONNX: with ceil_mode the last window must start inside the input or left padding.
  if (ceil_mode && (out - 1) * stride >= in + pb) --out;
  return out;
}

std::vector<int64_t> resolveAutoPad(const std::string& auto_pad, const Dims& in, const std::vector<int64_t>& kernel,
                                    const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                                    const std::vector<int64_t>& pads) {
  size_t n = kernel.size();
  std::vector<int64_t> p(2 * n, 0);
  if (auto_pad.empty() || auto_pad == "NOTSET") {
    if (pads.size() == 2 * n) p = pads;
    return p;
  }
  if (auto_pad == "VALID") return p;
  for (size_t i = 0; i < n; ++i) {
    if (in[i] < 0 || kernel[i] < 0) continue;  // unknown extent: pads resolved at reshape
    int64_t s = strides[i], d = dilations[i];
    int64_t out = (in[i] + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + (kernel[i] - 1) * d + 1 - in[i]);
    int64_t small = total / 2, big = total - small;
    if (auto_pad == "SAME_UPPER") {
      p[i] = small;
      p[i + n] = big;
    } else {
      p[i] = big;
      p[i + n] = small;
    }
  }
  return p;
}

}  // namespace qrt
