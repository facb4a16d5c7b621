// INT8 calibration: histograms, the threshold algorithms, weight quantization helpers, and the
// report, checked against hand-worked cases and an independent numpy re-implementation.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "quant/calibration_algorithms.h"
#include "quant/calibration_cache.h"
#include "quant/calibration_report.h"
#include "quant/histogram.h"
#include "quant/int8.h"
#include "test_util.h"

namespace qrt::quant {
namespace {

constexpr int kBins = kHistogramBins;

uint32_t bitsOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

Histogram histogramOf(const std::vector<float>& x) {
  RangeCollector range;
  range.update(x.data(), x.size());
  Histogram h(range.amax());
  h.add(x.data(), x.size());
  return h;
}

std::vector<uint64_t> toCounts(const std::vector<double>& v) {
  std::vector<uint64_t> c(v.size());
  for (size_t i = 0; i < v.size(); ++i) c[i] = static_cast<uint64_t>(std::llround(v[i]));
  return c;
}

// ---- spreading (GTC 2017) ----

TEST(SpreadLevels, GtcSlideExample) {
  const std::vector<uint64_t> bins = {1, 0, 2, 3, 5, 3, 1, 7};
  std::vector<double> out(bins.size(), -1.0);
  spreadLevels(bins, 2, out);
  EXPECT_EQ(out, (std::vector<double>{2, 0, 2, 2, 4, 4, 4, 4}));
}

TEST(SpreadLevels, LastLevelTakesTheRemainder) {
  // 10 bins into 3 levels: 3 bins per level, the last level takes bins 6..9.
  const std::vector<uint64_t> bins = {3, 0, 0, 1, 1, 1, 0, 8, 0, 4};
  std::vector<double> out(bins.size());
  spreadLevels(bins, 3, out);
  EXPECT_EQ(out, (std::vector<double>{3, 0, 0, 1, 1, 1, 0, 6, 0, 6}));
}

TEST(SpreadLevels, EmptyLevelStaysZero) {
  const std::vector<uint64_t> bins = {0, 0, 5, 1};
  std::vector<double> out(bins.size(), -1.0);
  spreadLevels(bins, 2, out);
  EXPECT_EQ(out, (std::vector<double>{0, 0, 3, 3}));
}

// ---- range and histogram ----

TEST(RangeCollector, MaxAbsIgnoresNonFinite) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  RangeCollector r;
  std::vector<float> a = {0.5f, -3.25f, nan, 2.0f};
  std::vector<float> b = {inf, -inf, 1.0f, -0.0f};
  r.update(a.data(), a.size());
  r.update(b.data(), b.size());
  EXPECT_EQ(r.amax(), 3.25f);
  EXPECT_EQ(r.count(), 8u);
  EXPECT_EQ(r.nonFiniteCount(), 3u);

  // Long input (full vectorized chunks plus a tail), max in the tail and in a chunk.
  std::vector<float> big(5000, -1.5f);
  big[4321] = -7.0f;
  RangeCollector r2;
  r2.update(big.data(), big.size());
  EXPECT_EQ(r2.amax(), 7.0f);
  big[4321] = 0.0f;
  big[17] = 9.0f;
  RangeCollector r3;
  r3.update(big.data(), big.size());
  EXPECT_EQ(r3.amax(), 9.0f);

  r.merge(r3);
  EXPECT_EQ(r.amax(), 9.0f);
  EXPECT_EQ(r.count(), 5008u);
}

TEST(Histogram, BinsMatchAScalarReference) {
  // 10007 values take the direct path of Histogram::add; 300007 the interleaved uint32 tables
  // (and the AVX2 / AVX-512 clones where the CPU has them). A third of the values are zeros.
  for (size_t n : {size_t{10007}, size_t{300007}}) {
    SCOPED_TRACE(n);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) x[i] = i % 3 == 1 ? 0.0f : normal(rng);
    x[5] = std::numeric_limits<float>::quiet_NaN();
    x[2048] = std::numeric_limits<float>::infinity();
    x[9999] = -std::numeric_limits<float>::infinity();
    RangeCollector range;
    range.update(x.data(), x.size());
    const float amax = range.amax();
    float scalar_max = 0.0f;
    for (float v : x)
      if (std::isfinite(v)) scalar_max = std::max(scalar_max, std::fabs(v));
    EXPECT_EQ(amax, scalar_max);
    EXPECT_EQ(range.nonFiniteCount(), 3u);
    x[100] = -amax;  // exactly the max: the last bin
    Histogram h(amax);
    h.add(x.data(), x.size());

    std::vector<uint64_t> expected(kBins, 0);
    const float per_unit = static_cast<float>(kBins) / amax;
    EXPECT_EQ(h.binsPerUnit(), per_unit);
    for (float v : x) {
      if (!std::isfinite(v)) continue;
      const int b = std::min(static_cast<int>(std::fabs(v) * per_unit), kBins - 1);
      ++expected[static_cast<size_t>(b)];
    }
    EXPECT_EQ(std::vector<uint64_t>(h.counts().begin(), h.counts().end()), expected);
    EXPECT_EQ(h.total(), x.size() - 3);
    EXPECT_EQ(h.nonFiniteCount(), 3u);
    EXPECT_GE(h.counts()[kBins - 1], 1u);
    EXPECT_DOUBLE_EQ(h.binWidth(), static_cast<double>(amax) / kBins);

    // reset() empties it for another range, as a fresh histogram would be.
    h.reset(2 * amax);
    h.add(x.data(), x.size());
    Histogram fresh(2 * amax);
    fresh.add(x.data(), x.size());
    EXPECT_EQ(h, fresh);
  }
}

TEST(Histogram, MergeEqualsOneHistogramOfAllData) {
  std::mt19937 rng(3);
  std::exponential_distribution<float> expo(1.0f);
  std::vector<float> x(3000);
  for (float& v : x) v = expo(rng);
  const Histogram all = histogramOf(x);
  Histogram first(all.rangeMax()), second(all.rangeMax());
  first.add(x.data(), 1234);
  second.add(x.data() + 1234, x.size() - 1234);
  ASSERT_TRUE(first.merge(second).ok());
  EXPECT_EQ(first, all);

  Histogram other(all.rangeMax() * 2);
  const Status st = first.merge(other);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ranges differ"), std::string::npos) << st.message();
}

TEST(Histogram, AllZeroTensor) {
  const std::vector<float> zeros(100, 0.0f);
  const Histogram h = histogramOf(zeros);
  EXPECT_EQ(h.rangeMax(), 0.0f);
  EXPECT_EQ(h.binWidth(), 0.0);
  EXPECT_EQ(h.counts()[0], 100u);
  for (CalibrationAlgo a : {CalibrationAlgo::kEntropy2, CalibrationAlgo::kEntropy, CalibrationAlgo::kMinMax,
                            CalibrationAlgo::kPercentile, CalibrationAlgo::kMSE}) {
    auto amax = computeAmax(h, {a, 99.99});
    ASSERT_TRUE(amax.ok());
    EXPECT_EQ(*amax, 0.0f) << calibrationAlgoName(a);
  }
  // TensorRT writes scale 0 for such a tensor; a Q/DQ node gets 1.0 (ONNX Runtime's choice).
  EXPECT_EQ(scaleFromAmax(0.0f), 0.0f);
  EXPECT_EQ(qdqScaleFromAmax(0.0f), 1.0f);
  // An empty histogram (no data) calibrates to 0 as well.
  EXPECT_EQ(entropyAmax(Histogram(1.0f).counts(), 1.0 / kBins), 0.0f);
}

TEST(Histogram, SameResultForAnyBatchingAndOrder) {
  // 64 "images" of 3x8x8 activations from a skewed, long-tailed distribution.
  constexpr int kImages = 64, kPerImage = 3 * 8 * 8;
  std::mt19937 rng(11);
  std::lognormal_distribution<float> logn(0.0f, 1.0f);
  std::bernoulli_distribution sign(0.3);
  std::vector<float> data(static_cast<size_t>(kImages) * kPerImage);
  for (float& v : data) v = (sign(rng) ? -1.0f : 1.0f) * logn(rng);

  auto calibrate = [&](const std::vector<int>& order, int batch) {
    // Batches are contiguous copies of `batch` images, in the given image order.
    std::vector<std::vector<float>> batches;
    for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch)) {
      std::vector<float> b;
      for (size_t j = i; j < std::min(order.size(), i + static_cast<size_t>(batch)); ++j) {
        const float* img = data.data() + static_cast<size_t>(order[j]) * kPerImage;
        b.insert(b.end(), img, img + kPerImage);
      }
      batches.push_back(std::move(b));
    }
    RangeCollector range;
    for (const auto& b : batches) range.update(b.data(), b.size());
    Histogram h(range.amax());
    for (const auto& b : batches) h.add(b.data(), b.size());
    std::vector<float> amax;
    for (CalibrationAlgo a : {CalibrationAlgo::kEntropy2, CalibrationAlgo::kMinMax,
                              CalibrationAlgo::kPercentile, CalibrationAlgo::kMSE}) {
      auto r = computeAmax(h, {a, 99.9});
      EXPECT_TRUE(r.ok());
      amax.push_back(*r);
    }
    return std::make_pair(h, amax);
  };

  std::vector<int> order(kImages);
  std::iota(order.begin(), order.end(), 0);
  const auto reference = calibrate(order, 1);
  for (int batch : {8, 32, kImages}) {
    const auto r = calibrate(order, batch);
    EXPECT_EQ(r.first, reference.first) << "batch " << batch;
    EXPECT_EQ(r.second, reference.second) << "batch " << batch;
  }
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  for (int batch : {1, 8, 32}) {
    const auto r = calibrate(order, batch);
    EXPECT_EQ(r.first, reference.first) << "shuffled, batch " << batch;
    EXPECT_EQ(r.second, reference.second) << "shuffled, batch " << batch;
  }
}

// ---- entropy ----

// KL(P||Q) straight from the definition, bin by bin, with Q built by spreadLevels.
double directDivergence(const std::vector<uint64_t>& hist, int i) {
  std::vector<double> p(hist.begin(), hist.begin() + i);
  for (size_t j = static_cast<size_t>(i); j < hist.size(); ++j) p[static_cast<size_t>(i) - 1] += static_cast<double>(hist[j]);
  std::vector<double> q(static_cast<size_t>(i));
  spreadLevels(std::span<const uint64_t>(hist.data(), static_cast<size_t>(i)), kQuantLevels, q);
  const double sp = std::accumulate(p.begin(), p.end(), 0.0);
  const double sq = std::accumulate(q.begin(), q.end(), 0.0);
  double kl = 0.0;
  for (size_t j = 0; j < p.size(); ++j) {
    if (p[j] == 0.0) continue;
    if (q[j] == 0.0) return std::numeric_limits<double>::infinity();
    kl += p[j] / sp * std::log((p[j] / sp) / (q[j] / sq));
  }
  return kl;
}

TEST(Entropy, DivergenceMatchesTheDefinition) {
  std::mt19937 rng(1);
  std::gamma_distribution<double> gamma(2.0, 150.0);
  std::vector<double> v(kBins);
  for (size_t j = 0; j < v.size(); ++j) v[j] = 1e6 * std::exp(-static_cast<double>(j) / gamma(rng));
  auto hist = toCounts(v);
  for (size_t j = 0; j < hist.size(); j += 7) hist[j] = 0;  // empty bins inside levels
  for (int i : {128, 129, 200, 255, 256, 300, 777, 1024, 1500, 2047, 2048}) {
    const double expected = directDivergence(hist, i);
    const double got = entropyDivergence(hist, i);
    if (std::isinf(expected)) {
      EXPECT_TRUE(std::isinf(got)) << "i=" << i;
    } else {
      EXPECT_NEAR(got, expected, 1e-12 + 1e-9 * expected) << "i=" << i;
    }
  }
}

TEST(Entropy, MassInFirst100BinsGivesThresholdAtBin128) {
  std::vector<uint64_t> hist(kBins, 0);
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> count(1, 1000);
  for (int j = 0; j < 100; ++j) hist[static_cast<size_t>(j)] = static_cast<uint64_t>(count(rng));
  const double width = 0.01;
  // i = 128 keeps one bin per level: Q == P, divergence exactly 0.
  EXPECT_EQ(entropyDivergence(hist, 128), 0.0);
  EXPECT_FLOAT_EQ(entropyAmax(hist, width), static_cast<float>(128.5 * width));
  // Also when every bin holds the same count (many i then reach 0: the first one wins).
  std::vector<uint64_t> flat(kBins, 0);
  for (int j = 0; j < 100; ++j) flat[static_cast<size_t>(j)] = 50;
  EXPECT_FLOAT_EQ(entropyAmax(flat, width), static_cast<float>(128.5 * width));
}

TEST(Entropy, EmptyLastBinWithOutliersIsInfinitelyFar) {
  std::vector<uint64_t> hist(kBins, 0);
  for (int j = 0; j < 300; ++j) hist[static_cast<size_t>(j)] = 100;
  hist[1000] = 5;  // an isolated outlier
  // Truncating at 500: P[499] holds the outlier, Q[499] is 0 (bin 499 is empty).
  EXPECT_TRUE(std::isinf(entropyDivergence(hist, 500)));
  EXPECT_TRUE(std::isfinite(entropyDivergence(hist, 300)));
  EXPECT_TRUE(std::isfinite(entropyDivergence(hist, 1001)));
}

TEST(Entropy, SaturatedSigmoidKeepsTheFullRangeLikeTensorRT) {
  // Sigmoid outputs pile up at exactly 1.0; clipping them costs much, so the search keeps all
  // 2048 bins and amax = 2048.5 / 2048. Its scale bits, 3c010a14, are what TensorRT 8.6 and 10
  // write for sigmoid outputs (tests/data/calib/README.md).
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 6.0f);
  std::vector<float> x(200000);
  for (float& v : x) v = 1.0f / (1.0f + std::exp(-normal(rng)));
  const Histogram h = histogramOf(x);
  ASSERT_EQ(h.rangeMax(), 1.0f);
  auto amax = computeAmax(h, {CalibrationAlgo::kEntropy2});
  ASSERT_TRUE(amax.ok());
  EXPECT_EQ(*amax, 2048.5f / 2048.0f);
  EXPECT_EQ(bitsOf(scaleFromAmax(*amax)), 0x3c010a14u);
  // MinMax on the same tensor: exactly 1/127, TensorRT's 3c010204.
  EXPECT_EQ(bitsOf(scaleFromAmax(minMaxAmax(h))), 0x3c010204u);
}

TEST(Entropy, GaussianWithLongTailClipsTheTail) {
  // N(0, 1) plus a sparse tail out to 40 sigma.
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> tail(4.0f, 40.0f);
  std::vector<float> x(400000);
  for (size_t k = 0; k < x.size(); ++k) x[k] = k % 5000 == 0 ? tail(rng) : normal(rng);
  const Histogram h = histogramOf(x);
  auto amax = computeAmax(h, {CalibrationAlgo::kEntropy2});
  ASSERT_TRUE(amax.ok());
  EXPECT_GT(*amax, 2.5f);
  EXPECT_LT(*amax, 12.0f);
  EXPECT_LT(*amax, 0.5f * h.rangeMax());
  // The legacy calibrator runs the same search.
  auto legacy = computeAmax(h, {CalibrationAlgo::kEntropy});
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(*legacy, *amax);
}

TEST(Entropy, ReluZerosDoNotDecideTheThreshold) {
  // A ReLU output: half exact zeros, half |N(0, 1)|, range about 4.5. Searched with the zero
  // spike as it is, the threshold lands at about 2.0 (numpy, unpatched) and clips the upper 5%;
  // with bin 0 given bin 1's count (pytorch-quantization, docs/calibration.md) it is about 4.2.
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(400000);
  for (size_t k = 0; k < x.size(); ++k) x[k] = k % 2 ? 0.0f : std::max(0.0f, std::fabs(normal(rng)));
  const Histogram h = histogramOf(x);
  auto amax = computeAmax(h, {CalibrationAlgo::kEntropy2});
  ASSERT_TRUE(amax.ok());
  EXPECT_GT(*amax, 2.5f) << "range " << h.rangeMax();
  EXPECT_LE(*amax, h.rangeMax() * (2048.5f / 2048.0f));
}

TEST(Entropy, FewerBinsThanLevelsKeepsTheRange) {
  const std::vector<uint64_t> hist = {5, 4, 3, 2, 1};
  EXPECT_FLOAT_EQ(entropyAmax(hist, 0.5), 2.5f);
}

// ---- percentile ----

TEST(Percentile, InterpolatesInsideTheBin) {
  const std::vector<uint64_t> flat(kBins, 1000);
  const double width = 1.0 / kBins;
  EXPECT_FLOAT_EQ(percentileAmax(flat, width, 50.0), 0.5f);
  EXPECT_FLOAT_EQ(percentileAmax(flat, width, 100.0), 1.0f);
  EXPECT_FLOAT_EQ(percentileAmax(flat, width, 99.99), static_cast<float>(0.9999));
  // A single non-empty bin: p % of the way through it.
  std::vector<uint64_t> one(kBins, 0);
  one[10] = 400;
  EXPECT_FLOAT_EQ(percentileAmax(one, 1.0, 25.0), 10.25f);
  EXPECT_FLOAT_EQ(percentileAmax(one, 1.0, 100.0), 11.0f);
}

TEST(Percentile, UniformData) {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(1000000);
  for (float& v : x) v = u(rng);
  const Histogram h = histogramOf(x);
  auto amax = computeAmax(h, {CalibrationAlgo::kPercentile, 99.0});
  ASSERT_TRUE(amax.ok());
  EXPECT_NEAR(*amax, 0.99f, 2e-3f);
  auto full = computeAmax(h, {CalibrationAlgo::kPercentile, 100.0});
  ASSERT_TRUE(full.ok());
  EXPECT_FLOAT_EQ(*full, h.rangeMax());
}

TEST(Percentile, RejectsBadPercentiles) {
  const Histogram h(1.0f);
  for (double p : {0.0, -1.0, 100.5, std::nan("")}) {
    auto r = computeAmax(h, {CalibrationAlgo::kPercentile, p});
    EXPECT_FALSE(r.ok()) << p;
  }
}

// ---- MSE ----

// Squared error of quantizing samples with threshold t (independent of mseError's binning).
double sampleMse(const std::vector<float>& x, double t) {
  const double s = t / 127.0;
  double e = 0.0;
  for (float v : x) {
    const double a = std::fabs(v);
    const double q = std::min(std::nearbyint(a / s), 127.0) * s;
    e += (a - q) * (a - q);
  }
  return e;
}

TEST(Mse, UniformDataKeepsNearlyTheWholeRange) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(200000);
  for (float& v : x) v = u(rng);
  const Histogram h = histogramOf(x);
  const float amax = mseAmax(h.counts(), h.binWidth());
  EXPECT_GT(amax, 0.98f * h.rangeMax());
  EXPECT_LE(amax, h.rangeMax());
}

TEST(Mse, OutliersAreWeighedAgainstResolution) {
  // N(0, 1) and two far outliers: clipping them costs their squared distance, keeping them costs
  // resolution for everything else. The histogram search must land where a brute-force search
  // over the samples themselves does (about 38 here), not at either end.
  std::mt19937 rng(14);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(200000);
  for (float& v : x) v = normal(rng);
  x[123] = 60.0f;
  x[456] = -55.0f;
  const Histogram h = histogramOf(x);
  const float amax = mseAmax(h.counts(), h.binWidth());
  double best_t = 0.0, best = std::numeric_limits<double>::infinity();
  for (double t = 4.0; t <= 60.0; t += 0.25) {
    const double e = sampleMse(x, t);
    if (e < best) best = e, best_t = t;
  }
  EXPECT_NEAR(amax, best_t, 0.05 * best_t);
  EXPECT_LT(sampleMse(x, amax), 1.01 * best);
  EXPECT_LT(amax, 0.8f * h.rangeMax());
}

TEST(Mse, ChoiceIsTheMinimumOverCandidates) {
  std::vector<double> v(kBins);
  for (size_t j = 0; j < v.size(); ++j) v[j] = 1e5 * std::exp(-static_cast<double>(j) / 90.0) + (j % 97 == 0 ? 3 : 0);
  const auto hist = toCounts(v);
  const float amax = mseAmax(hist, 1.0);
  const int chosen = static_cast<int>(amax);
  ASSERT_EQ(static_cast<float>(chosen), amax);
  for (int c = kQuantLevels; c <= kBins; ++c) EXPECT_LE(mseError(hist, chosen), mseError(hist, c)) << c;
}

// ---- INT8 helpers ----

TEST(Int8, QuantizeRoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(quantizeInt8(0.5f, 1.0f), 0);
  EXPECT_EQ(quantizeInt8(1.5f, 1.0f), 2);
  EXPECT_EQ(quantizeInt8(2.5f, 1.0f), 2);
  EXPECT_EQ(quantizeInt8(-0.5f, 1.0f), 0);
  EXPECT_EQ(quantizeInt8(-1.5f, 1.0f), -2);
  EXPECT_EQ(quantizeInt8(-2.5f, 1.0f), -2);
  EXPECT_EQ(quantizeInt8(1000.0f, 1.0f), 127);
  EXPECT_EQ(quantizeInt8(-1000.0f, 1.0f), -128);
  EXPECT_EQ(quantizeInt8(std::numeric_limits<float>::infinity(), 1.0f), 127);
  EXPECT_EQ(quantizeInt8(std::numeric_limits<float>::quiet_NaN(), 1.0f), 0);
  // x / scale in float32: 0.3f / 0.1f rounds to 3.0f exactly in float (2.9999... in double).
  EXPECT_EQ(quantizeInt8(0.3f, 0.1f), 3);
  const std::vector<float> x = {0.0f, 0.26f, -0.74f, 12.7f, -13.0f};
  std::vector<int8_t> q(x.size());
  quantizeInt8(x.data(), x.size(), 0.1f, q.data());
  EXPECT_EQ(q, (std::vector<int8_t>{0, 3, -7, 127, -128}));
}

TEST(Int8, PerChannelWeightScales) {
  // Shape [2, 3]: rows are output channels (axis 0), columns axis 1.
  const std::vector<float> w = {1.0f, -2.54f, 0.5f, 0.0f, 0.0f, 0.0f};
  auto rows = perChannelWeightScales(w.data(), {2, 3}, 0);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(*rows, (std::vector<float>{2.54f / 127.0f, 1.0f}));  // all-zero channel -> 1.0
  auto cols = perChannelWeightScales(w.data(), {2, 3}, -1);
  ASSERT_TRUE(cols.ok());
  EXPECT_EQ(*cols, (std::vector<float>{1.0f / 127.0f, 2.54f / 127.0f, 0.5f / 127.0f}));
  // Conv weights [O, I, kh, kw] with axis 0.
  std::vector<float> conv(4 * 2 * 3 * 3);
  for (size_t i = 0; i < conv.size(); ++i) conv[i] = (i % 2 ? -1.0f : 1.0f) * static_cast<float>(i / 18 + 1) * (i % 18 == 5 ? 2.0f : 1.0f);
  auto oc = perChannelWeightScales(conv.data(), {4, 2, 3, 3}, 0);
  ASSERT_TRUE(oc.ok());
  EXPECT_EQ(*oc, (std::vector<float>{2.0f / 127, 4.0f / 127, 6.0f / 127, 8.0f / 127}));
  EXPECT_FALSE(perChannelWeightScales(w.data(), {2, 3}, 2).ok());
  EXPECT_FALSE(perChannelWeightScales(w.data(), {2, 3}, -3).ok());
  // Scales that would be unusable in a QuantizeLinear become 1.0.
  EXPECT_EQ(qdqScaleFromAmax(1e-40f), 1.0f);
  EXPECT_EQ(qdqScaleFromAmax(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(qdqScaleFromAmax(2.54f), 2.54f / 127.0f);
}

// ---- the report, and the numpy reference ----

bool havePythonNumpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

// Runs recompute_thresholds.py on a report; returns its exit status and output.
std::pair<int, std::string> recomputeWithNumpy(const std::string& report_path) {
  const std::string out_path = report_path + ".out";
  const std::string cmd = "/usr/bin/python3 " + test::sourcePath("tests/data/calib/recompute_thresholds.py") +
                          " " + report_path + " >" + out_path + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out_path);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return {rc, output};
}

TEST(Report, ThresholdsOfRandomHistogramsMatchNumpy) {
  if (!havePythonNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<TensorCalibration> tensors;
  for (int t = 0; t < 24; ++t) {
    // Mixtures of decaying shapes with random scales, noise, spikes and gaps: a variety of
    // optimum positions.
    const double decay = 20.0 + 600.0 * unit(rng);
    const double power = 0.5 + 2.0 * unit(rng);
    const double peak = std::pow(10.0, 2.0 + 5.0 * unit(rng));
    std::vector<double> v(kBins);
    for (size_t j = 0; j < v.size(); ++j) {
      const double shape = peak * std::exp(-std::pow(static_cast<double>(j) / decay, power));
      v[j] = std::floor(shape * (0.7 + 0.6 * unit(rng)));
      if (t % 3 == 1 && unit(rng) < 0.2) v[j] = 0;                        // gaps
      if (t % 4 == 2 && unit(rng) < 0.01) v[j] += std::floor(peak * 1e-3); // tail spikes
    }
    if (t % 5 == 0) v[0] += peak * 10;  // a ReLU-like spike at zero
    v[kBins - 1] += 1;                  // the max itself
    const float range_max = static_cast<float>(0.5 + 20.0 * unit(rng));
    auto h = Histogram::fromCounts(toCounts(v), range_max);
    ASSERT_TRUE(h.ok());
    const CalibrationAlgo algo = t < 12 ? CalibrationAlgo::kEntropy2
                                        : std::array{CalibrationAlgo::kEntropy, CalibrationAlgo::kPercentile,
                                                     CalibrationAlgo::kMSE, CalibrationAlgo::kMinMax}[t % 4];
    auto cal = calibrateTensor("t" + std::to_string(t), std::move(*h), {algo, 99.9});
    ASSERT_TRUE(cal.ok());
    tensors.push_back(std::move(*cal));
  }
  const std::string path = test::makeTempDir("calib_report") + "/report.json";
  ASSERT_TRUE(writeCalibrationReport(path, tensors).ok());
  const auto [rc, output] = recomputeWithNumpy(path);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("24 of 24 tensors match"), std::string::npos) << output;
}

TEST(Report, CalibratedActivationsMatchNumpy) {
  if (!havePythonNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  std::mt19937 rng(77);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> relu(300000), gauss(300000);
  for (float& v : relu) v = std::max(normal(rng), 0.0f);
  for (float& v : gauss) v = normal(rng) * (rng() % 1000 == 0 ? 8.0f : 1.0f);
  std::vector<TensorCalibration> tensors;
  for (CalibrationAlgo a : {CalibrationAlgo::kEntropy2, CalibrationAlgo::kPercentile, CalibrationAlgo::kMSE,
                            CalibrationAlgo::kMinMax}) {
    for (const auto* x : {&relu, &gauss}) {
      auto cal = calibrateTensor(std::string(calibrationAlgoName(a)) + (x == &relu ? "/relu" : "/gauss"),
                                 histogramOf(*x), {a, 99.99});
      ASSERT_TRUE(cal.ok());
      tensors.push_back(std::move(*cal));
    }
  }
  const std::string path = test::makeTempDir("calib_report2") + "/report.json";
  ASSERT_TRUE(writeCalibrationReport(path, tensors).ok());
  const auto [rc, output] = recomputeWithNumpy(path);
  EXPECT_EQ(rc, 0) << output;

  // The report carries what the cache needs, and the scale bits agree with it.
  const std::string report = formatCalibrationReport(tensors);
  EXPECT_NE(report.find("\"name\": \"entropy2/relu\""), std::string::npos);
  EXPECT_NE(report.find("\"percentile\": 99.99"), std::string::npos);
  const CalibrationCache cache = cacheFromCalibration(tensors, CalibrationAlgo::kEntropy2);
  const std::string text = formatCalibrationCache(cache);
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%x", bitsOf(tensors[0].scale));
  EXPECT_NE(report.find(std::string("\"scale_bits\": \"") + hex + "\""), std::string::npos);
  EXPECT_NE(text.find(std::string("entropy2/relu: ") + hex + "\n"), std::string::npos) << text;
}

// ---- speed (reported, loosely bounded) ----

TEST(Speed, HistogramAndEntropy) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(1 << 22);
  for (float& v : x) v = std::max(normal(rng), 0.0f);  // ReLU: half the values hit bin 0
  RangeCollector range;
  auto t0 = std::chrono::steady_clock::now();
  range.update(x.data(), x.size());
  auto t1 = std::chrono::steady_clock::now();
  Histogram h(range.amax());
  h.add(x.data(), x.size());
  auto t2 = std::chrono::steady_clock::now();
  const float amax = entropyAmax(h.counts(), h.binWidth());
  auto t3 = std::chrono::steady_clock::now();
  const float mse = mseAmax(h.counts(), h.binWidth());
  auto t4 = std::chrono::steady_clock::now();
  const auto ns = [](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count(); };
  std::printf("range %.2f ns/value, histogram %.2f ns/value, entropy2 %.1f ms (amax %g), mse %.1f ms (amax %g)\n",
              ns(t0, t1) / x.size(), ns(t1, t2) / x.size(), ns(t2, t3) / 1e6, amax, ns(t3, t4) / 1e6, mse);
  EXPECT_LT(ns(t2, t3) / 1e6, 2000.0);
}

}  // namespace
}  // namespace qrt::quant
