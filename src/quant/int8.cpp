#include "quant/int8.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/status_macros.h"

namespace qrt::quant {

float qdqScaleFromAmax(float amax) {
  const float scale = amax / 127.0f;
  const bool usable = std::isfinite(scale) && scale >= std::numeric_limits<float>::min();
  return usable ? scale : 1.0f;
}

int8_t quantizeInt8(float x, float scale) {
  const float v = x / scale;
  if (std::isnan(v)) return 0;
  return static_cast<int8_t>(std::clamp(std::nearbyint(v), -128.0f, 127.0f));
}

void quantizeInt8(const float* x, size_t n, float scale, int8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = quantizeInt8(x[i], scale);
}

Result<std::vector<float>> perChannelWeightScales(const float* w, const Dims& dims, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    return invalidArgument("weight scales: axis ", axis, " is out of range for shape ", dimsToString(dims));
  if (volume(dims) < 0)
    return invalidArgument("weight scales: shape ", dimsToString(dims), " is not known");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < a; ++d) outer *= dims[static_cast<size_t>(d)];
  for (int64_t d = a + 1; d < rank; ++d) inner *= dims[static_cast<size_t>(d)];
  const int64_t channels = dims[static_cast<size_t>(a)];
  std::vector<float> amax(static_cast<size_t>(channels), 0.0f);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = w + (o * channels + c) * inner;
      float m = amax[static_cast<size_t>(c)];
      for (int64_t i = 0; i < inner; ++i) {
        const float v = std::fabs(p[i]);
        m = v > m ? v : m;  // NaN compares false: ignored
      }
      amax[static_cast<size_t>(c)] = m;
    }
  }
  for (float& s : amax) s = qdqScaleFromAmax(s);
  return amax;
}

}  // namespace qrt::quant
