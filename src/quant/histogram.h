// Activation statistics for INT8 calibration: the range of |x| (pass 1) and a fixed histogram of
// |x| over that range (pass 2).
//
// TensorRT grows its histograms as batches arrive, so its scales depend on batch size and order.
// qrt reads the calibration data twice instead: pass 1 records max |x| of every tensor, pass 2
// counts |x| into kHistogramBins equal bins over [0, max]. The counts are integers, so the result
// is exact and the same for any batching, any order and any split over threads (merge()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "qrt/status.h"

namespace qrt::quant {

inline constexpr int kHistogramBins = 2048;

// Pass 1: max |x| of one tensor over all calibration data.
// Non-finite values (NaN, +-inf) are counted but do not widen the range: an infinite range would
// make every finite value fall into bin 0 (TensorRT keeps them and writes an infinite scale,
// 7f800000, into its cache; such a tensor cannot be quantized usefully either way).
class RangeCollector {
 public:
  void update(const float* x, size_t n);
  void merge(const RangeCollector& other);

  float amax() const { return amax_; }               // max |x| over finite values, 0 if none
  uint64_t count() const { return count_; }          // elements seen, non-finite ones included
  uint64_t nonFiniteCount() const { return nonfinite_; }

 private:
  float amax_ = 0.0f;
  uint64_t count_ = 0;
  uint64_t nonfinite_ = 0;
};

// Pass 2: counts of |x| in `bins` equal bins over [0, range_max].
// A value goes to bin floor(|x| * (bins / range_max)), computed in float32 and clamped to the last
// bin, so |x| == range_max (and anything larger) lands in the last bin. Non-finite values are not
// counted in any bin (nonFiniteCount()). With range_max 0 (an all-zero tensor) every finite value
// lands in bin 0 and the bin width is 0.
class Histogram {
 public:
  Histogram() : Histogram(0.0f) {}
  explicit Histogram(float range_max, int bins = kHistogramBins);
  // A histogram from known counts (tests, reports). range_max must be finite and >= 0.
  // non_finite: the count of non-finite values (nonFiniteCount()), e.g. from a device histogram.
  static Result<Histogram> fromCounts(std::vector<uint64_t> counts, float range_max, uint64_t non_finite = 0);

  // Empties the histogram and sets a new range, keeping the bin count (and the memory): the
  // per-thread partial histograms of calibration are reused from batch to batch.
  void reset(float range_max);

  // Adds |x| of n values. Branch-free index computation in chunks (vectorizable), then the
  // increments; no division per element.
  void add(const float* x, size_t n);
  // Adds the counts of a histogram over the same range and bin count (e.g. one per thread).
  Status merge(const Histogram& other);

  int bins() const { return bins_; }
  float rangeMax() const { return range_max_; }
  // The float32 factor of the bin formula, bins / range_max (0 when range_max is 0): a device
  // histogram multiplies by the same float to put every value into the same bin.
  float binsPerUnit() const { return bins_per_unit_; }
  // range_max / bins (exact: bins is a power of two for the default).
  double binWidth() const { return bins_ > 0 ? static_cast<double>(range_max_) / bins_ : 0.0; }
  std::span<const uint64_t> counts() const { return {counts_.data(), static_cast<size_t>(bins_)}; }
  uint64_t total() const;  // sum of counts() (finite values)
  uint64_t nonFiniteCount() const { return counts_[static_cast<size_t>(bins_)]; }

  bool operator==(const Histogram& o) const {
    return bins_ == o.bins_ && range_max_ == o.range_max_ && counts_ == o.counts_;
  }

 private:
  void flushTables(const uint32_t* tables, uint32_t slots);  // adds kLanes uint32 tables to counts_

  int bins_;
  float range_max_;
  float bins_per_unit_;            // bins / range_max, or 0 when range_max is 0
  std::vector<uint64_t> counts_;   // bins_ + 1 entries: the last one counts non-finite values
};

}  // namespace qrt::quant
