// INT8 calibration algorithms: from the histogram of |x| of one tensor to its threshold amax.
// The activation scale is amax / 127 (symmetric, per tensor, zero point 0).
//
// Each algorithm lives in its own file (entropy.cpp, percentile.cpp, mse.cpp, minmax.cpp);
// docs/calibration.md states every choice made here and why.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "qrt/calibrator.h"
#include "qrt/status.h"
#include "quant/histogram.h"

namespace qrt::quant {

// INT8 has 128 non-negative levels (0..127); the entropy search merges bins into this many.
inline constexpr int kQuantLevels = 128;

struct CalibrationOptions {
  CalibrationAlgo algorithm = CalibrationAlgo::kEntropy2;
  double percentile = 99.99;  // kPercentile only; in (0, 100]
};
Status validateCalibrationOptions(const CalibrationOptions& options);

// The threshold of one tensor with the chosen algorithm. Fails only on invalid options.
Result<float> computeAmax(const Histogram& histogram, const CalibrationOptions& options);

// Activation scale as TensorRT writes it into its cache: amax / 127 (0 for an all-zero tensor).
inline float scaleFromAmax(float amax) { return amax / 127.0f; }

// The algorithm name of a TensorRT cache header "TRT-<version>-<name>": EntropyCalibration2,
// EntropyCalibration, MinMaxCalibration; qrt's own percentile and MSE calibrations use
// QrtPercentileCalibration and QrtMseCalibration, which TensorRT will not take for its own.
const char* cacheAlgorithmName(CalibrationAlgo algorithm);
// The full algorithm name of the header qrt writes: cacheAlgorithmName, and for the percentile
// algorithm its P after a '-' ("QrtPercentileCalibration-99.99"), so that a cache made with
// another percentile is not taken for this one. The other names are TensorRT's, unchanged.
std::string cacheHeaderName(const CalibrationOptions& options);

// ---- entropy.cpp: TensorRT's EntropyCalibrator2 (and the legacy EntropyCalibrator) ----

// Threshold minimizing KL(P || Q) over truncations i in [128, bins] (GTC 2017, Migacz):
// P = hist[0:i] with the outliers sum(hist[i:]) added to P[i-1]; Q = hist[0:i] merged into 128
// levels and spread back (spreadLevels); amax = (i + 0.5) * bin_width of the first minimal i.
// A candidate where Q is 0 but P is not (hist[i-1] == 0 with outliers beyond it) has infinite
// divergence, as scipy.stats.entropy gives. Returns 0 for an empty histogram and the full range
// (bins * bin_width) for one with fewer than 128 bins.
float entropyAmax(std::span<const uint64_t> hist, double bin_width);
// KL(P || Q) of the truncation at i (kQuantLevels <= i <= hist.size()), as entropyAmax computes
// it. Exposed for tests.
double entropyDivergence(std::span<const uint64_t> hist, int i);
// GTC's "quantize into levels, then expand": bins merged into `levels` levels of
// bins.size() / levels bins each (the last level also takes the remainder); each level's total
// is spread evenly over its non-empty bins, empty bins stay 0. Requires
// bins.size() >= levels >= 1 and out.size() == bins.size().
// Example: [1,0,2,3,5,3,1,7] into 2 levels -> [2,0,2,2,4,4,4,4].
void spreadLevels(std::span<const uint64_t> bins, int levels, std::span<double> out);

// ---- percentile.cpp ----
// The value below which `percentile` % of |x| lies, assuming values spread uniformly inside a
// bin (linear interpolation within the bin that crosses the target count). percentile is
// clamped to [0, 100]; 100 gives the upper edge of the last non-empty bin.
float percentileAmax(std::span<const uint64_t> hist, double bin_width, double percentile);

// ---- mse.cpp ----
// The bin edge c * bin_width (c in [128, bins]) minimizing the expected squared error of
// quantizing every bin's center with scale c * bin_width / 127, round half to even, clamped to
// 127, weighted by the bin counts. The first minimum wins.
float mseAmax(std::span<const uint64_t> hist, double bin_width);
// That error for the candidate edge c, in units of bin_width^2. Exposed for tests.
double mseError(std::span<const uint64_t> hist, int c);

// ---- minmax.cpp ----
// max |x|: the histogram's range (TensorRT's MinMaxCalibrator).
float minMaxAmax(const Histogram& histogram);

}  // namespace qrt::quant
