#include "quant/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/status_macros.h"

namespace qrt::quant {

namespace {

// Work is done in chunks of a compile-time length: GCC's -O2 vectorizes loops whose trip count
// it knows (no epilogue needed) and leaves the others scalar; the tail goes through the same
// per-element functions.
constexpr size_t kChunk = 1024;

constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kInfBits = 0x7f800000u;  // |x| bits >= this: inf or NaN

// Range of one chunk, on the bit patterns: for non-negative floats integer order is float order,
// and "bits >= inf bits" is exactly "not finite". Integer max reductions vectorize without
// -ffast-math; float ones do not. (Signed: |x| bits fit in int32, and SSE2 compares signed.)
struct RangeAcc {
  int32_t max_bits = 0;
  int32_t nonfinite = 0;
};
inline void rangeStep(uint32_t bits, RangeAcc& acc) {
  const int32_t b = static_cast<int32_t>(bits & kAbsMask);
  const int32_t finite = b < static_cast<int32_t>(kInfBits) ? 1 : 0;
  acc.nonfinite += 1 - finite;
  const int32_t candidate = b * finite;
  acc.max_bits = candidate > acc.max_bits ? candidate : acc.max_bits;
}
template <size_t N>
RangeAcc rangeOfChunk(const uint32_t* bits) {
  RangeAcc acc;
  for (size_t k = 0; k < N; ++k) rangeStep(bits[k], acc);
  return acc;
}

// Bin index of one value: floor(|x| * bins_per_unit) clamped to the last bin, or `discard` for a
// non-finite value (whose position is zeroed, so that the float-to-int conversion, done for every
// lane of a vector, always converts a valid number).
inline uint32_t binIndex(float x, float bins_per_unit, float last, uint32_t discard) {
  const float a = std::fabs(x);
  const bool finite = a <= std::numeric_limits<float>::max();
  float pos = std::min(a * bins_per_unit, last);
  pos = finite ? pos : 0.0f;
  const uint32_t bin = static_cast<uint32_t>(static_cast<int32_t>(pos));
  return finite ? bin : discard;
}

}  // namespace

void RangeCollector::update(const float* x, size_t n) {
  uint32_t bits[kChunk];
  int32_t max_bits = 0;
  uint64_t nonfinite = 0;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    std::memcpy(bits, x + base, len * sizeof(float));
    RangeAcc acc;
    if (len == kChunk) {
      acc = rangeOfChunk<kChunk>(bits);
    } else {
      for (size_t k = 0; k < len; ++k) rangeStep(bits[k], acc);
    }
    max_bits = std::max(max_bits, acc.max_bits);
    nonfinite += static_cast<uint64_t>(acc.nonfinite);
  }
  float batch_max;
  std::memcpy(&batch_max, &max_bits, sizeof(batch_max));
  amax_ = std::max(amax_, batch_max);
  count_ += n;
  nonfinite_ += nonfinite;
}

void RangeCollector::merge(const RangeCollector& other) {
  amax_ = std::max(amax_, other.amax_);
  count_ += other.count_;
  nonfinite_ += other.nonfinite_;
}

Histogram::Histogram(float range_max, int bins)
    : bins_(std::max(bins, 1)),
      range_max_(range_max),
      bins_per_unit_(range_max > 0.0f ? static_cast<float>(bins_) / range_max : 0.0f),
      counts_(static_cast<size_t>(bins_) + 1, 0) {}

Result<Histogram> Histogram::fromCounts(std::vector<uint64_t> counts, float range_max) {
  if (counts.empty()) return invalidArgument("histogram: no bins");
  if (counts.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return invalidArgument("histogram: too many bins (", counts.size(), ")");
  if (!std::isfinite(range_max) || range_max < 0.0f)
    return invalidArgument("histogram: range max ", range_max, " is not a finite value >= 0");
  Histogram h(range_max, static_cast<int>(counts.size()));
  std::copy(counts.begin(), counts.end(), h.counts_.begin());
  return h;
}

void Histogram::add(const float* x, size_t n) {
  const float last = static_cast<float>(bins_ - 1);
  const float per_unit = bins_per_unit_;
  const uint32_t discard = static_cast<uint32_t>(bins_);  // the non-finite slot
  uint32_t index[kChunk];
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    const float* xs = x + base;
    // Pass A (vectorized for full chunks): the bin of every element.
    if (len == kChunk) {
      for (size_t k = 0; k < kChunk; ++k) index[k] = binIndex(xs[k], per_unit, last, discard);
    } else {
      for (size_t k = 0; k < len; ++k) index[k] = binIndex(xs[k], per_unit, last, discard);
    }
    // Pass B: the increments (a scatter; exact integer counts).
    for (size_t k = 0; k < len; ++k) ++counts_[index[k]];
  }
}

Status Histogram::merge(const Histogram& other) {
  if (other.bins_ != bins_ || other.range_max_ != range_max_) {
    return invalidArgument("histogram merge: ranges differ (", bins_, " bins over [0, ", range_max_,
                           "] vs ", other.bins_, " bins over [0, ", other.range_max_, "])");
  }
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  return Status::Ok();
}

uint64_t Histogram::total() const {
  uint64_t t = 0;
  for (uint64_t c : counts()) t += c;
  return t;
}

}  // namespace qrt::quant
