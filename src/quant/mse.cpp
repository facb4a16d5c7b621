// MSE calibration: the threshold with the least expected squared quantization error.
#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/calibration_algorithms.h"

namespace qrt::quant {

namespace {

// round_half_to_even(v) for 0 <= v < 2^52, as std::nearbyint in the default rounding mode gives,
// but inline: adding 2^52 leaves no fraction bits, so the FPU's round-to-nearest-even does the
// rounding. (Without SSE4.1, std::nearbyint is a library call; this loop makes millions.)
inline double roundHalfEven(double v) {
  constexpr double kTwo52 = 4503599627370496.0;
  return (v + kTwo52) - kTwo52;  // not folded: IEEE arithmetic (no -ffast-math) forbids it
}

}  // namespace

double mseError(std::span<const uint64_t> hist, int c) {
  // In units of the bin width: bin b holds values around its center b + 0.5; the candidate
  // threshold is c, so the scale is c / 127. Values beyond the threshold clamp to level 127.
  const double scale = static_cast<double>(c) / 127.0;
  double error = 0.0;
  for (size_t b = 0; b < hist.size(); ++b) {
    if (hist[b] == 0) continue;
    const double center = static_cast<double>(b) + 0.5;
    const double level = std::min(roundHalfEven(center / scale), 127.0);
    const double diff = center - level * scale;
    error += static_cast<double>(hist[b]) * diff * diff;
  }
  return error;
}

float mseAmax(std::span<const uint64_t> hist, double bin_width) {
  const int n = static_cast<int>(hist.size());
  uint64_t total = 0;
  for (uint64_t c : hist) total += c;
  if (total == 0) return 0.0f;
  // Below 128 bins the INT8 step would be finer than a bin, and bin centers no longer stand for
  // the values inside them; the entropy search starts there for the same reason.
  if (n < kQuantLevels) return static_cast<float>(n * bin_width);
  int best_c = n;
  double best = std::numeric_limits<double>::infinity();
  for (int c = kQuantLevels; c <= n; ++c) {
    const double e = mseError(hist, c);
    if (e < best) {  // strict: the first (smallest) threshold among equals
      best = e;
      best_c = c;
    }
  }
  return static_cast<float>(best_c * bin_width);
}

}  // namespace qrt::quant
