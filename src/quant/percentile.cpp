// Percentile calibration: clip the largest (100 - p) % of |x|.
#include <algorithm>

#include "quant/calibration_algorithms.h"

namespace qrt::quant {

float percentileAmax(std::span<const uint64_t> hist, double bin_width, double percentile) {
  uint64_t total = 0;
  for (uint64_t c : hist) total += c;
  if (total == 0) return 0.0f;
  const double target = std::clamp(percentile, 0.0, 100.0) / 100.0 * static_cast<double>(total);
  uint64_t below = 0;  // count in bins before b
  for (size_t b = 0; b < hist.size(); ++b) {
    const uint64_t c = hist[b];
    if (c != 0 && static_cast<double>(below + c) >= target) {
      // The values of bin b are taken as spread evenly over [b, b+1) bin widths.
      const double fraction = (target - static_cast<double>(below)) / static_cast<double>(c);
      return static_cast<float>((static_cast<double>(b) + std::clamp(fraction, 0.0, 1.0)) * bin_width);
    }
    below += c;
  }
  return static_cast<float>(static_cast<double>(hist.size()) * bin_width);  // not reached
}

}  // namespace qrt::quant
