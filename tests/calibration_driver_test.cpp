// The calibration driver (quant::calibrate) on the CPU: its results do not depend on how the data
// is batched, on whether the first pass's batches are replayed from memory or read again, or on
// the number of threads; the data is read once when it fits the batch cache. The graph input's
// histogram is checked against one computed directly from the data.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/threadpool.h"
#include "passes/pass_manager.h"
#include "qrt/qrt.h"
#include "quant/calibrate.h"
#include "quant/calibration_cache.h"
#include "quant/histogram.h"
#include "test_util.h"

namespace qrt {
namespace {

// In-memory batches of one float input; counts the rewinds (each one is a read of the data).
class VectorCalibrator : public Calibrator {
 public:
  VectorCalibrator(std::vector<float> data, int batch) : data_(std::move(data)), batch_(batch) {}
  CalibrationAlgo algorithm() const override { return CalibrationAlgo::kEntropy2; }
  Result<bool> getBatch(CalibrationBatch& b) override {
    constexpr int64_t kPer = 28 * 28;
    const int64_t total = static_cast<int64_t>(data_.size()) / kPer;
    if (pos_ >= total) return false;
    const int64_t n = std::min<int64_t>(batch_, total - pos_);
    b.inputs.clear();
    auto& t = b.inputs["input"];
    t.dims = {n, 1, 28, 28};
    t.data.assign(data_.begin() + pos_ * kPer, data_.begin() + (pos_ + n) * kPer);
    b.samples = n;
    pos_ += n;
    return true;
  }
  Status reset() override {
    pos_ = 0;
    ++resets;
    return Status::Ok();
  }
  int resets = 0;

 private:
  std::vector<float> data_;
  int batch_;
  int64_t pos_ = 0;
};

std::vector<float> garments(int count) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> data(static_cast<size_t>(count) * 28 * 28);
  for (int i = 0; i < count; ++i) {
    const float cx = 6 + 16 * u(rng), cy = 6 + 16 * u(rng), r = 4 + 8 * u(rng);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const float d = std::hypot(x - cx, y - cy) / r;
        const float pixel = std::clamp(std::exp(-d * d) + 0.1f * u(rng), 0.0f, 1.0f);
        data[(static_cast<size_t>(i) * 28 + y) * 28 + x] = (pixel - 0.286f) / 0.353f;
      }
  }
  return data;
}

TEST(CalibrationDriver, SameScalesForAnyBatchingCachingAndThreads) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  const std::vector<float> data = garments(96);

  struct Run {
    const char* what;
    int batch;
    int64_t cache_bytes;
    int threads;
    bool cached;  // expected: the second pass replays the first's batches
  };
  const int64_t one_batch = 16 * 28 * 28 * sizeof(float);
  const Run runs[] = {
      {"batch 32, replayed", 32, -1, 0, true},
      {"batch 7, read twice", 7, 0, 0, false},
      {"batch 16, cache too small: read twice", 16, 3 * one_batch, 0, false},
      {"batch 96, one thread", 96, -1, 1, true},
      {"batch 1", 1, -1, 0, true},
  };
  const int threads = numThreads();
  std::string reference;
  std::vector<quant::TensorCalibration> first;
  for (const Run& r : runs) {
    SCOPED_TRACE(r.what);
    if (r.threads) setNumThreads(r.threads);
    VectorCalibrator calibrator(data, r.batch);
    quant::CalibrationRunOptions options;
    options.progress = false;
    options.batch_cache_bytes = r.cache_bytes;
    auto outcome = quant::calibrate(*g, calibrator, options);
    setNumThreads(threads);
    ASSERT_TRUE(outcome.ok()) << outcome.status().toString();
    EXPECT_EQ(outcome->samples, 96);
    EXPECT_EQ(outcome->batches_cached, r.cached);
    EXPECT_EQ(calibrator.resets, r.cached ? 1 : 2);
    const std::string cache =
        quant::formatCalibrationCache(quant::cacheFromCalibration(outcome->tensors, CalibrationAlgo::kEntropy2));
    if (reference.empty()) {
      reference = cache;
      first = outcome->tensors;
      continue;
    }
    EXPECT_EQ(cache, reference);
    ASSERT_EQ(outcome->tensors.size(), first.size());
    for (size_t i = 0; i < first.size(); ++i)
      EXPECT_EQ(outcome->tensors[i].histogram, first[i].histogram) << first[i].name;
  }
  ASSERT_GT(first.size(), 10u);

  // The input's histogram, straight from the data.
  ASSERT_EQ(first[0].name, "input");
  quant::RangeCollector range;
  range.update(data.data(), data.size());
  quant::Histogram h(range.amax());
  h.add(data.data(), data.size());
  EXPECT_EQ(first[0].histogram, h);
}

}  // namespace
}  // namespace qrt
