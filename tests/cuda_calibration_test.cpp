// INT8 calibration on the GPU against the CPU's (ctest label gpu; every test skips where no GPU
// can be used):
//  - the device statistics kernels against quant::RangeCollector / quant::Histogram on the same
//    values (zeros, negatives, values at the range max, NaN, infinities, subnormals): the same
//    maximum and the same counts, bin for bin, since the bin formula is the same float arithmetic;
//  - quant::calibrate of the Fashion-MNIST CNN on the CPU engine and on a CUDA engine with the same
//    data: the convolutions sum in another order on the GPU, so activations differ in the last
//    bits and a few values change bin (checked: cumulative counts within 0.1%). minmax and
//    percentile thresholds then agree within one histogram bin; an entropy threshold can move
//    farther where the divergence is flat, so there the GPU's threshold is checked to be as good
//    (divergence within 2% of the minimum) on the CPU's histogram. The graph input, computed by
//    nobody, gets the identical histogram and scale.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaCalibration, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "backends/cuda/calib_stats.h"
#include "backends/cuda/device_memory.h"
#include "passes/pass_manager.h"
#include "quant/calibrate.h"
#include "quant/calibration_algorithms.h"
#include "quant/histogram.h"
#include "cuda_test_util.h"
#include "test_util.h"

namespace qrt {
namespace {

// Values that probe the bin formula: half exact zeros (and -0), a long tail, values exactly at
// and next to bin edges, non-finite values, subnormals.
std::vector<float> probeValues(size_t n, uint32_t seed, bool non_finite) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::lognormal_distribution<float> tail(0.0f, 1.5f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 8) {
      case 0: case 1: case 2: x[i] = 0.0f; break;
      case 3: x[i] = -0.0f; break;
      case 4: x[i] = -tail(rng); break;
      default: x[i] = normal(rng); break;
    }
  }
  x[n / 3] = 1e-40f;  // subnormal
  x[n / 2] = -7.25f;  // the maximum |x| below, negative
  if (non_finite) {
    x[5] = std::numeric_limits<float>::quiet_NaN();
    x[n - 7] = std::numeric_limits<float>::infinity();
    x[n / 4] = -std::numeric_limits<float>::infinity();
  }
  return x;
}

TEST(CudaCalibration, StatisticsKernelsMatchTheCpuBinForBin) {
  QRT_REQUIRE_GPU();
  // Tensor 0: many blocks; tensor 1: a few values (one partial warp); tensor 2: all zeros.
  const std::vector<std::vector<float>> data = {probeValues(3'000'017, 1, true), probeValues(45, 2, false),
                                                std::vector<float>(1000, 0.0f)};
  auto stats = cuda::CalibrationStats::create(data.size(), quant::kHistogramBins);
  ASSERT_TRUE(stats.ok()) << stats.status().toString();
  auto stream = cuda::createStream();
  ASSERT_TRUE(stream.ok());
  std::vector<std::shared_ptr<void>> device;
  for (const auto& x : data) {
    auto d = cuda::deviceAlloc(x.size() * sizeof(float));
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(cuda::copyToDevice(d->get(), x.data(), x.size() * sizeof(float)).ok());
    device.push_back(*d);
  }
  // Two calls per tensor, as two batches would give.
  auto addRanges = [&] {
    for (size_t t = 0; t < data.size(); ++t) {
      const int64_t n = static_cast<int64_t>(data[t].size()), half = n / 2;
      const float* p = static_cast<const float*>(device[t].get());
      ASSERT_TRUE((*stats)->addRange(t, p, half, stream->get()).ok());
      ASSERT_TRUE((*stats)->addRange(t, p + half, n - half, stream->get()).ok());
    }
  };
  addRanges();
  auto ranges = (*stats)->ranges(stream->get());
  ASSERT_TRUE(ranges.ok()) << ranges.status().toString();

  std::vector<quant::Histogram> cpu;
  for (size_t t = 0; t < data.size(); ++t) {
    quant::RangeCollector r;
    r.update(data[t].data(), data[t].size());
    EXPECT_EQ((*ranges)[t], r.amax()) << "tensor " << t;
    cpu.emplace_back(r.amax());
    cpu.back().add(data[t].data(), data[t].size());
  }
  for (size_t t = 0; t < data.size(); ++t) {
    const int64_t n = static_cast<int64_t>(data[t].size()), half = n / 2;
    const float* p = static_cast<const float*>(device[t].get());
    const float per_unit = cpu[t].binsPerUnit();
    ASSERT_TRUE((*stats)->addHistogram(t, p, half, per_unit, stream->get()).ok());
    ASSERT_TRUE((*stats)->addHistogram(t, p + half, n - half, per_unit, stream->get()).ok());
  }
  auto counts = (*stats)->histograms(stream->get());
  ASSERT_TRUE(counts.ok()) << counts.status().toString();
  for (size_t t = 0; t < data.size(); ++t) {
    SCOPED_TRACE("tensor " + std::to_string(t));
    std::vector<uint64_t> c = (*counts)[t];
    ASSERT_EQ(c.size(), static_cast<size_t>(quant::kHistogramBins) + 1);
    EXPECT_EQ(c.back(), cpu[t].nonFiniteCount());
    c.pop_back();
    const auto expected = cpu[t].counts();
    EXPECT_TRUE(std::equal(c.begin(), c.end(), expected.begin(), expected.end()));
  }
  EXPECT_EQ((*counts)[0].back(), 3u);  // NaN, inf, -inf
  EXPECT_EQ((*counts)[2][0], 1000u);   // the zeros, from both calls
}

// In-memory batches of one float input.
class VectorCalibrator : public Calibrator {
 public:
  VectorCalibrator(std::string input, Dims sample, std::vector<float> data, int batch, CalibrationAlgo algo)
      : input_(std::move(input)), sample_(std::move(sample)), data_(std::move(data)), batch_(batch), algo_(algo) {}
  CalibrationAlgo algorithm() const override { return algo_; }
  Result<bool> getBatch(CalibrationBatch& b) override {
    const int64_t per = volume(sample_), total = static_cast<int64_t>(data_.size()) / per;
    if (pos_ >= total) return false;
    const int64_t n = std::min<int64_t>(batch_, total - pos_);
    b.inputs.clear();
    auto& t = b.inputs[input_];
    t.dims = sample_;
    t.dims.insert(t.dims.begin(), n);
    t.data.assign(data_.begin() + pos_ * per, data_.begin() + (pos_ + n) * per);
    b.samples = n;
    pos_ += n;
    return true;
  }
  Status reset() override {
    pos_ = 0;
    return Status::Ok();
  }

 private:
  std::string input_;
  Dims sample_;
  std::vector<float> data_;
  int batch_;
  CalibrationAlgo algo_;
  int64_t pos_ = 0;
};

// Largest difference of the cumulative counts, as a fraction of all values: how many values the
// GPU's last-bit differences moved across a bin edge.
double maxCdfShift(const quant::Histogram& a, const quant::Histogram& b) {
  double ca = 0, cb = 0, worst = 0;
  for (int i = 0; i < a.bins(); ++i) {
    ca += static_cast<double>(a.counts()[i]);
    cb += static_cast<double>(b.counts()[i]);
    worst = std::max(worst, std::fabs(ca - cb));
  }
  return a.total() ? worst / static_cast<double>(a.total()) : 0.0;
}

// The entropy search's divergence of truncation i on the histogram as the search sees it (bin 0
// given bin 1's count; see docs/calibration.md, "Zeros").
double searchDivergence(const quant::Histogram& h, int i) {
  std::vector<uint64_t> c(h.counts().begin(), h.counts().end());
  c[0] = c[1];
  return quant::entropyDivergence(c, i);
}

TEST(CudaCalibration, FashionMnistScalesMatchTheCpu) {
  QRT_REQUIRE_GPU();
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  // 96 synthetic 28x28 "garments": smooth blobs with noise, normalized like the model's data.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> data(96 * 28 * 28);
  for (int i = 0; i < 96; ++i) {
    const float cx = 6 + 16 * u(rng), cy = 6 + 16 * u(rng), r = 4 + 8 * u(rng);
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) {
        const float d = std::hypot(x - cx, y - cy) / r;
        const float pixel = std::clamp(std::exp(-d * d) + 0.1f * u(rng), 0.0f, 1.0f);
        data[(i * 28 + y) * 28 + x] = (pixel - 0.286f) / 0.353f;
      }
  }
  for (CalibrationAlgo algo : {CalibrationAlgo::kMinMax, CalibrationAlgo::kPercentile, CalibrationAlgo::kEntropy2}) {
    SCOPED_TRACE(calibrationAlgoName(algo));
    quant::CalibrationRunOptions cpu_options;
    cpu_options.progress = false;
    quant::CalibrationRunOptions gpu_options = cpu_options;
    gpu_options.device = DeviceType::kCUDA;
    VectorCalibrator cpu_data("input", {1, 28, 28}, data, 32, algo), gpu_data("input", {1, 28, 28}, data, 32, algo);
    auto cpu = quant::calibrate(*g, cpu_data, cpu_options);
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    auto gpu = quant::calibrate(*g, gpu_data, gpu_options);
    ASSERT_TRUE(gpu.ok()) << gpu.status().toString();

    ASSERT_EQ(gpu->tensors.size(), cpu->tensors.size());
    ASSERT_GT(cpu->tensors.size(), 10u);
    EXPECT_EQ(gpu->samples, 96);
    int identical = 0, within_bin = 0;
    for (size_t i = 0; i < cpu->tensors.size(); ++i) {
      const quant::TensorCalibration& c = cpu->tensors[i];
      const quant::TensorCalibration& d = gpu->tensors[i];
      SCOPED_TRACE(c.name);
      ASSERT_EQ(d.name, c.name);
      EXPECT_EQ(d.histogram.total(), c.histogram.total());
      EXPECT_EQ(d.histogram.nonFiniteCount(), 0u);
      EXPECT_LE(std::fabs(static_cast<double>(d.histogram.rangeMax()) - c.histogram.rangeMax()),
                1e-4 * c.histogram.rangeMax());
      // The GPU's activations differ from the CPU's in the last bits only: few values change bin.
      const double shift = maxCdfShift(c.histogram, d.histogram);
      EXPECT_LE(shift, 1e-3);
      const double bin = std::max(c.histogram.binWidth(), d.histogram.binWidth());
      const double diff = std::fabs(static_cast<double>(d.amax) - c.amax);
      identical += d.scale == c.scale;
      within_bin += diff <= bin * (1 + 1e-6);
      if (algo != CalibrationAlgo::kEntropy2) {
        EXPECT_LE(diff, bin * (1 + 1e-6)) << "amax " << c.amax << " (CPU) vs " << d.amax << " (GPU), bin " << bin;
        continue;
      }
      // Entropy: where the divergence is flat near its minimum, a few values changing bin can move
      // the first minimum far. The GPU's threshold must then be as good on the CPU's histogram:
      // its divergence within 2% of the CPU's minimum.
      const double w = c.histogram.binWidth();
      if (w <= 0) continue;
      const int i_cpu = static_cast<int>(std::lround(c.amax / w - 0.5));
      const int i_gpu =
          std::clamp(static_cast<int>(std::lround(d.amax / w - 0.5)), quant::kQuantLevels, c.histogram.bins());
      const double best = searchDivergence(c.histogram, i_cpu), at_gpu = searchDivergence(c.histogram, i_gpu);
      EXPECT_LE(at_gpu, best * 1.02 + 1e-9) << "i " << i_cpu << " (CPU) vs " << i_gpu << " (GPU)";
      if (diff > bin * (1 + 1e-6))
        std::printf("  %s: %s amax %.7g (CPU) vs %.7g (GPU), %.1f bins apart; divergence on the CPU histogram "
                    "%.6g at the CPU's threshold, %.6g at the GPU's; cumulative counts differ by %.2g of the values\n",
                    calibrationAlgoName(algo), c.name.c_str(), c.amax, d.amax, diff / bin, best, at_gpu, shift);
    }
    // The input is the data itself: the same histogram, the same scale.
    EXPECT_EQ(gpu->tensors[0].name, "input");
    EXPECT_EQ(gpu->tensors[0].histogram, cpu->tensors[0].histogram);
    EXPECT_EQ(gpu->tensors[0].scale, cpu->tensors[0].scale);
    std::printf("%s: %d of %zu scales bit-identical between CPU and GPU, %d within one histogram bin\n",
                calibrationAlgoName(algo), identical, cpu->tensors.size(), within_bin);
  }
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
