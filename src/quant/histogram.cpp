#include "quant/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/status_macros.h"

// The two loops over every calibrated value are compiled for AVX-512 and AVX2 as well as the
// baseline (SSE2, which has no 32-bit integer max or multiply), picked at load time. Same
// arithmetic in every version: integer max on bit patterns, one float multiply and min per value.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define QRT_HIST_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QRT_HIST_CLONES
#endif

namespace qrt::quant {

namespace {

// Work is done in chunks of a compile-time length: GCC's -O2 vectorizes loops whose trip count
// it knows (no epilogue needed) and leaves the others scalar; the tail goes through the same
// per-element functions.
constexpr size_t kChunk = 1024;
// Interleaved count tables of Histogram::add (see there).
constexpr int kLanes = 4;
// Below this many values the tables cost more to clear and flush than they save.
constexpr size_t kSubTableMinElements = 16 * 1024;
// A uint32 table entry sees at most this many increments between flushes.
constexpr size_t kFlushElements = size_t{1} << 31;

constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kInfBits = 0x7f800000u;  // |x| bits >= this: inf or NaN

// Range of one chunk, on the bit patterns: for non-negative floats integer order is float order,
// and "bits >= inf bits" is exactly "not finite". Integer max reductions vectorize without
// -ffast-math; float ones do not. (Signed: |x| bits fit in int32, and SSE2 compares signed.)
struct RangeAcc {
  int32_t max_bits = 0;
  int32_t nonfinite = 0;
};
inline uint32_t floatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}
[[gnu::always_inline]] inline void rangeStep(uint32_t bits, RangeAcc& acc) {
  const int32_t b = static_cast<int32_t>(bits & kAbsMask);
  const int32_t finite = b < static_cast<int32_t>(kInfBits) ? 1 : 0;
  acc.nonfinite += 1 - finite;
  const int32_t candidate = b & -finite;  // a mask, not a multiply: SSE2 has no 32-bit multiply
  acc.max_bits = candidate > acc.max_bits ? candidate : acc.max_bits;
}
// Inlined into the clones of the callers (a function left out of line would be compiled for the
// baseline only).
template <size_t N>
[[gnu::always_inline]] inline RangeAcc rangeOfChunk(const float* x) {
  RangeAcc acc;
  for (size_t k = 0; k < N; ++k) rangeStep(floatBits(x[k]), acc);
  return acc;
}

// Bin index of one value: floor(|x| * bins_per_unit) clamped to the last bin, or `discard` for a
// non-finite value (whose position is zeroed, so that the float-to-int conversion, done for every
// lane of a vector, always converts a valid number).
[[gnu::always_inline]] inline uint32_t binIndex(float x, float bins_per_unit, float last, uint32_t discard) {
  const float a = std::fabs(x);
  const bool finite = a <= std::numeric_limits<float>::max();
  float pos = std::min(a * bins_per_unit, last);
  pos = finite ? pos : 0.0f;
  const uint32_t bin = static_cast<uint32_t>(static_cast<int32_t>(pos));
  return finite ? bin : discard;
}

// Bin indices of len (<= kChunk) values into index[], element k offset by (k % kLanes) * stride
// (stride 0: one table). Full chunks take the fixed-length loop, which vectorizes.
[[gnu::always_inline]] inline void binChunk(const float* xs, size_t len, float per_unit, float last, uint32_t discard,
                                            uint32_t stride, uint32_t* index) {
  if (len == kChunk) {
    for (size_t k = 0; k < kChunk; ++k)
      index[k] = binIndex(xs[k], per_unit, last, discard) + static_cast<uint32_t>(k % kLanes) * stride;
  } else {
    for (size_t k = 0; k < len; ++k)
      index[k] = binIndex(xs[k], per_unit, last, discard) + static_cast<uint32_t>(k % kLanes) * stride;
  }
}

}  // namespace

QRT_HIST_CLONES void RangeCollector::update(const float* x, size_t n) {
  int32_t max_bits = 0;
  uint64_t nonfinite = 0;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    RangeAcc acc;
    if (len == kChunk) {
      acc = rangeOfChunk<kChunk>(x + base);
    } else {
      for (size_t k = 0; k < len; ++k) rangeStep(floatBits(x[base + k]), acc);
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

Result<Histogram> Histogram::fromCounts(std::vector<uint64_t> counts, float range_max, uint64_t non_finite) {
  if (counts.empty()) return invalidArgument("histogram: no bins");
  if (counts.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return invalidArgument("histogram: too many bins (", counts.size(), ")");
  if (!std::isfinite(range_max) || range_max < 0.0f)
    return invalidArgument("histogram: range max ", range_max, " is not a finite value >= 0");
  Histogram h(range_max, static_cast<int>(counts.size()));
  std::copy(counts.begin(), counts.end(), h.counts_.begin());
  h.counts_.back() = non_finite;
  return h;
}

void Histogram::reset(float range_max) {
  range_max_ = range_max;
  bins_per_unit_ = range_max > 0.0f ? static_cast<float>(bins_) / range_max : 0.0f;
  std::fill(counts_.begin(), counts_.end(), 0u);
}

QRT_HIST_CLONES void Histogram::add(const float* x, size_t n) {
  const float last = static_cast<float>(bins_ - 1);
  const float per_unit = bins_per_unit_;
  const uint32_t slots = static_cast<uint32_t>(bins_) + 1;  // the bins and the non-finite slot
  // Small inputs (and unusual bin counts) go straight into the uint64 counts. Larger ones count
  // into kLanes interleaved uint32 tables first: consecutive elements then increment different
  // addresses, where one table would chain every increment of a run of equal bins (the zeros of
  // a ReLU output, half the data) through a store-to-load round trip. The tables are flushed
  // into the counts before a uint32 could overflow.
  if (n < kSubTableMinElements || bins_ > kHistogramBins) {
    uint32_t index[kChunk];
    for (size_t base = 0; base < n; base += kChunk) {
      const size_t len = std::min(kChunk, n - base);
      binChunk(x + base, len, per_unit, last, static_cast<uint32_t>(bins_), 0, index);
      for (size_t k = 0; k < len; ++k) ++counts_[index[k]];
    }
    return;
  }
  thread_local std::vector<uint32_t> tables;
  tables.assign(static_cast<size_t>(kLanes) * slots, 0u);
  uint32_t index[kChunk];
  size_t since_flush = 0;
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t len = std::min(kChunk, n - base);
    binChunk(x + base, len, per_unit, last, static_cast<uint32_t>(bins_), slots, index);
    uint32_t* t = tables.data();
    for (size_t k = 0; k < len; ++k) ++t[index[k]];
    since_flush += len;
    if (since_flush > kFlushElements) {
      flushTables(tables.data(), slots);
      std::fill(tables.begin(), tables.end(), 0u);
      since_flush = 0;
    }
  }
  flushTables(tables.data(), slots);
}

void Histogram::flushTables(const uint32_t* tables, uint32_t slots) {
  for (uint32_t b = 0; b < slots; ++b) {
    uint64_t sum = 0;
    for (int l = 0; l < kLanes; ++l) sum += tables[static_cast<size_t>(l) * slots + b];
    counts_[b] += sum;
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
