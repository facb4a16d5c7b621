// TensorRT's entropy calibration (EntropyCalibrator2; the legacy EntropyCalibrator runs the same
// search, only on the fused network, which is the builder's business).
//
// For every truncation i of the histogram, P is what the tensor really holds (values beyond bin
// i clipped into bin i-1) and Q is what 128 INT8 levels can say about hist[0:i]. The threshold is
// the i whose Q loses the least information: minimal KL(P || Q).
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "quant/calibration_algorithms.h"

namespace qrt::quant {

namespace {

// The bins of level k when n bins are merged into kQuantLevels levels: n / 128 bins each, the
// last level also taking the remainder (GTC / MXNet convention).
struct LevelBounds {
  int begin, end;
};
LevelBounds levelBounds(int k, int n, int levels) {
  const int per_level = n / levels;
  const int begin = k * per_level;
  return {begin, k == levels - 1 ? n : begin + per_level};
}

// The divergence search over one histogram, with everything that does not depend on i computed
// once, so the loop over i allocates nothing.
class EntropySearch {
 public:
  explicit EntropySearch(std::span<const uint64_t> hist)
      : hist_(hist), log_count_(hist.size(), 0.0), beyond_(hist.size() + 1, 0) {
    for (size_t j = 0; j < hist.size(); ++j) {
      if (hist[j] != 0) log_count_[j] = std::log(static_cast<double>(hist[j]));
    }
    for (size_t j = hist.size(); j-- > 0;) beyond_[j] = beyond_[j + 1] + hist[j];
  }

  uint64_t total() const { return beyond_[0]; }

  // KL(P || Q) for the truncation at i, with P and Q normalized:
  //   sum_j p_j log(p_j / q_j) = (1/SP) sum_j P_j (log P_j - log Q_j) + log(SQ / SP)
  // where SP = total count, SQ = sum(hist[0:i]) = sum(Q). Inside a level every non-empty bin has
  // the same Q (level total / non-empty bins), so log Q is taken once per level.
  double divergence(int i) const {
    const uint64_t outliers = beyond_[static_cast<size_t>(i)];
    // P[i-1] > 0 but Q[i-1] == 0: Q cannot represent the clipped mass at all.
    if (outliers != 0 && hist_[static_cast<size_t>(i) - 1] == 0)
      return std::numeric_limits<double>::infinity();

    double sum = 0.0;  // sum_j P_j (log P_j - log Q_j) over P_j > 0
    double log_q_last = 0.0;
    for (int k = 0; k < kQuantLevels; ++k) {
      const LevelBounds lv = levelBounds(k, i, kQuantLevels);
      uint64_t level_count = 0;
      int nonempty = 0;
      for (int j = lv.begin; j < lv.end; ++j) {
        level_count += hist_[static_cast<size_t>(j)];
        nonempty += hist_[static_cast<size_t>(j)] != 0 ? 1 : 0;
      }
      if (level_count == 0) continue;
      const double log_q = std::log(static_cast<double>(level_count) / nonempty);
      for (int j = lv.begin; j < lv.end; ++j) {
        const uint64_t h = hist_[static_cast<size_t>(j)];
        if (h != 0) sum += static_cast<double>(h) * (log_count_[static_cast<size_t>(j)] - log_q);
      }
      log_q_last = log_q;  // the last level is non-empty whenever outliers != 0 (checked above)
    }
    if (outliers != 0) {
      // Bin i-1 holds P = h + outliers, not h: swap its term.
      const uint64_t h = hist_[static_cast<size_t>(i) - 1];
      const double p = static_cast<double>(h) + static_cast<double>(outliers);
      sum += p * (std::log(p) - log_q_last) -
             static_cast<double>(h) * (log_count_[static_cast<size_t>(i) - 1] - log_q_last);
    }
    const double sp = static_cast<double>(total());
    const double sq = static_cast<double>(total() - outliers);
    // When nothing is clipped SQ == SP and the log term is exactly 0, so a Q equal to P gives
    // exactly 0 (ties then resolve to the smallest i, as intended).
    return sum / sp + (outliers != 0 ? std::log(sq / sp) : 0.0);
  }

 private:
  std::span<const uint64_t> hist_;
  std::vector<double> log_count_;  // log hist[j] (0 for empty bins, never read)
  std::vector<uint64_t> beyond_;   // beyond_[i] = sum(hist[i:])
};

}  // namespace

void spreadLevels(std::span<const uint64_t> bins, int levels, std::span<double> out) {
  const int n = static_cast<int>(bins.size());
  for (int k = 0; k < levels; ++k) {
    const LevelBounds lv = levelBounds(k, n, levels);
    uint64_t level_count = 0;
    int nonempty = 0;
    for (int j = lv.begin; j < lv.end; ++j) {
      level_count += bins[static_cast<size_t>(j)];
      nonempty += bins[static_cast<size_t>(j)] != 0 ? 1 : 0;
    }
    const double share = nonempty != 0 ? static_cast<double>(level_count) / nonempty : 0.0;
    for (int j = lv.begin; j < lv.end; ++j)
      out[static_cast<size_t>(j)] = bins[static_cast<size_t>(j)] != 0 ? share : 0.0;
  }
}

double entropyDivergence(std::span<const uint64_t> hist, int i) {
  return EntropySearch(hist).divergence(i);
}

float entropyAmax(std::span<const uint64_t> hist, double bin_width) {
  const int n = static_cast<int>(hist.size());
  // Bin 0 holds the exact zeros, half of a ReLU output. Left as it is, that spike decides the
  // search: spreading it over the first level's bins in Q costs so much that small i (one bin per
  // level) always win, and ReLU outputs get clipped to a fraction of their range (Fashion-MNIST:
  // 59% top-1 instead of 90%). NVIDIA's pytorch-quantization, written to reproduce TensorRT's
  // calibration, searches with bin 0 given bin 1's count; so does qrt.
  std::vector<uint64_t> patched(hist.begin(), hist.end());
  if (n > 1) patched[0] = patched[1];
  const EntropySearch search(patched);
  if (search.total() == 0) return 0.0f;
  if (n < kQuantLevels) return static_cast<float>(n * bin_width);
  int best_i = n;  // i == n never has outliers, so its divergence is finite
  double best = std::numeric_limits<double>::infinity();
  for (int i = kQuantLevels; i <= n; ++i) {
    const double d = search.divergence(i);
    if (d < best) {  // strict: the first (smallest) i among equals
      best = d;
      best_i = i;
    }
  }
  return static_cast<float>((best_i + 0.5) * bin_width);
}

}  // namespace qrt::quant
