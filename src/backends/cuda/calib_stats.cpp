#include "backends/cuda/calib_stats.h"

#include <cstring>

#include "backends/cuda/calib_launch.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_memory.h"

namespace qrt::cuda {

namespace {
constexpr int kMaxBins = 4096;  // the shared-memory histogram of calib_stats.cu
}

Result<std::unique_ptr<CalibrationStats>> CalibrationStats::create(size_t tensors, int bins) {
  if (bins < 1 || bins > kMaxBins) return invalidArgument("device calibration: ", bins, " bins (1 to ", kMaxBins, ")");
  auto s = std::unique_ptr<CalibrationStats>(new CalibrationStats());
  s->tensors_ = tensors;
  s->bins_ = bins;
  const size_t n = std::max<size_t>(tensors, 1);
  QRT_ASSIGN_OR_RETURN(s->max_bits_, deviceAlloc(n * sizeof(uint32_t)));
  QRT_ASSIGN_OR_RETURN(s->counts_, deviceAlloc(n * (static_cast<size_t>(bins) + 1) * sizeof(uint64_t)));
  QRT_RETURN_IF_ERROR(fillDevice(s->max_bits_.get(), 0, n * sizeof(uint32_t)));
  QRT_RETURN_IF_ERROR(fillDevice(s->counts_.get(), 0, n * (static_cast<size_t>(bins) + 1) * sizeof(uint64_t)));
  return s;
}

CalibrationStats::~CalibrationStats() = default;

Status CalibrationStats::addRange(size_t tensor, const float* x, int64_t n, void* stream) {
  if (tensor >= tensors_) return internalError("device calibration: tensor ", tensor, " of ", tensors_);
  launch::calibAbsMax(x, n, static_cast<uint32_t*>(max_bits_.get()) + tensor, static_cast<cudaStream_t>(stream));
  return checkCuda(cudaGetLastError(), "device calibration: max |x|");
}

Result<std::vector<float>> CalibrationStats::ranges(void* stream) {
  QRT_RETURN_IF_ERROR(synchronizeStream(stream));
  std::vector<uint32_t> bits(tensors_);
  QRT_RETURN_IF_ERROR(copyToHost(bits.data(), max_bits_.get(), bits.size() * sizeof(uint32_t)));
  std::vector<float> out(tensors_);
  for (size_t i = 0; i < tensors_; ++i) std::memcpy(&out[i], &bits[i], sizeof(float));
  return out;
}

Status CalibrationStats::addHistogram(size_t tensor, const float* x, int64_t n, float bins_per_unit, void* stream) {
  if (tensor >= tensors_) return internalError("device calibration: tensor ", tensor, " of ", tensors_);
  auto* counts = static_cast<unsigned long long*>(counts_.get()) + tensor * (static_cast<size_t>(bins_) + 1);
  launch::calibHistogram(x, n, bins_per_unit, bins_, counts, static_cast<cudaStream_t>(stream));
  return checkCuda(cudaGetLastError(), "device calibration: histogram");
}

Result<std::vector<std::vector<uint64_t>>> CalibrationStats::histograms(void* stream) {
  QRT_RETURN_IF_ERROR(synchronizeStream(stream));
  const size_t slots = static_cast<size_t>(bins_) + 1;
  std::vector<uint64_t> all(tensors_ * slots);
  QRT_RETURN_IF_ERROR(copyToHost(all.data(), counts_.get(), all.size() * sizeof(uint64_t)));
  std::vector<std::vector<uint64_t>> out(tensors_);
  for (size_t i = 0; i < tensors_; ++i)
    out[i].assign(all.begin() + static_cast<std::ptrdiff_t>(i * slots),
                  all.begin() + static_cast<std::ptrdiff_t>((i + 1) * slots));
  return out;
}

}  // namespace qrt::cuda
