#include "backends/cuda/depthwise_geometry.h"

#include <cstring>

namespace qrt::cuda {

launch::Conv2dShape conv2dShape(const Dims& x, const Dims& w, const Dims& y, const Window& win) {
  launch::Conv2dShape g;
  g.n = static_cast<int>(x[0]);
  g.c = static_cast<int>(x[1]);
  g.h = static_cast<int>(x[2]);
  g.w = static_cast<int>(x[3]);
  g.m = static_cast<int>(y[1]);
  g.oh = static_cast<int>(y[2]);
  g.ow = static_cast<int>(y[3]);
  g.kh = static_cast<int>(w[2]);
  g.kw = static_cast<int>(w[3]);
  g.sh = static_cast<int>(win.strides[0]);
  g.sw = static_cast<int>(win.strides[1]);
  g.ph = static_cast<int>(win.pad_begin[0]);
  g.pw = static_cast<int>(win.pad_begin[1]);
  g.dh = static_cast<int>(win.dilations[0]);
  g.dw = static_cast<int>(win.dilations[1]);
  return g;
}

launch::DepthwiseGeometry depthwiseGeometry(const Dims& x, const Dims& w, const Dims& y, const Window& win,
                                            bool channels_last) {
  launch::DepthwiseGeometry g;
  static_cast<launch::Conv2dShape&>(g) = conv2dShape(x, w, y, win);
  g.channels_last = channels_last;
  return g;
}

std::vector<uint8_t> depthwiseWeightsTapMajor(const void* w, int64_t channels, int64_t taps, size_t elem) {
  std::vector<uint8_t> t(static_cast<size_t>(taps * channels) * elem);
  const auto* src = static_cast<const uint8_t*>(w);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < taps; ++k)
      std::memcpy(&t[static_cast<size_t>(k * channels + c) * elem], &src[static_cast<size_t>(c * taps + k) * elem], elem);
  return t;
}

}  // namespace qrt::cuda
