#include "backends/cuda/tactic_timer.h"

#include "core/half.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace qrt::cuda {

namespace {
constexpr int kReps = 7;
}

TacticTimer::~TacticTimer() {
  if (a_) cudaEventDestroy(a_);
  if (b_) cudaEventDestroy(b_);
}

Status TacticTimer::time(const std::function<Status()>& work, double best_us, double* us, const std::string& who) {
  if (!a_) {
    QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&a_), who));
    QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&b_), who));
  }
  QRT_RETURN_IF_ERROR(work());
  cudaEventRecord(a_, dev_->stream);
  QRT_RETURN_IF_ERROR(work());
  cudaEventRecord(b_, dev_->stream);
  QRT_RETURN_IF_ERROR(checkCuda(cudaEventSynchronize(b_), who, ": tactic warm-up"));
  float first = 0;
  cudaEventElapsedTime(&first, a_, b_);
  if (1000.0 * first > 10 * best_us) {
    *us = 1000.0 * first;
    return Status::Ok();
  }
  const int per = static_cast<int>(std::clamp(300.0 / std::max(1.0, 1000.0 * first), 1.0, 20.0));
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  bool captured = cudaStreamBeginCapture(dev_->stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
  if (captured) {
    Status s;
    for (int i = 0; i < per && s.ok(); ++i) s = work();
    captured = cudaStreamEndCapture(dev_->stream, &graph) == cudaSuccess && s.ok() &&
               cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    if (graph) cudaGraphDestroy(graph);
    if (!captured) cudaGetLastError();
  }
  std::vector<float> ms(kReps);
  if (captured) {
    cudaGraphLaunch(exec, dev_->stream);
    for (int i = 0; i < kReps; ++i) {
      cudaEventRecord(a_, dev_->stream);
      cudaGraphLaunch(exec, dev_->stream);
      cudaEventRecord(b_, dev_->stream);
      Status s = checkCuda(cudaEventSynchronize(b_), who, ": tactic timing");
      if (!s.ok()) {
        cudaGraphExecDestroy(exec);
        return s;
      }
      cudaEventElapsedTime(&ms[static_cast<size_t>(i)], a_, b_);
      ms[static_cast<size_t>(i)] /= static_cast<float>(per);
    }
    cudaGraphExecDestroy(exec);
    std::sort(ms.begin(), ms.end());
    *us = 1000.0 * ms[kReps / 2];
    return Status::Ok();
  }
  for (int i = 0; i < kReps; ++i) {
    cudaEventRecord(a_, dev_->stream);
    QRT_RETURN_IF_ERROR(work());
    cudaEventRecord(b_, dev_->stream);
    QRT_RETURN_IF_ERROR(checkCuda(cudaEventSynchronize(b_), who, ": tactic timing"));
    cudaEventElapsedTime(&ms[static_cast<size_t>(i)], a_, b_);
  }
  std::sort(ms.begin(), ms.end());
  *us = 1000.0 * ms[kReps / 2];
  return Status::Ok();
}

bool sampleOutput(DeviceContext* dev, const void* d, int64_t n, size_t elem, std::vector<uint8_t>* raw) {
  const int64_t chunk = int64_t{1} << 20;
  const int64_t head = std::min(n, chunk), tail = std::min(n - head, chunk);
  raw->assign(static_cast<size_t>(head + tail) * elem, 0);
  if (cudaStreamSynchronize(dev->stream) != cudaSuccess ||
      cudaMemcpy(raw->data(), d, static_cast<size_t>(head) * elem, cudaMemcpyDeviceToHost) != cudaSuccess ||
      (tail > 0 && cudaMemcpy(raw->data() + head * elem, static_cast<const uint8_t*>(d) + (n - tail) * elem,
                              static_cast<size_t>(tail) * elem, cudaMemcpyDeviceToHost) != cudaSuccess)) {
    cudaGetLastError();
    return false;
  }
  return true;
}

double sampledRelativeError(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, bool half) {
  const size_t elem = half ? 2 : 4, n = std::min(got.size(), want.size()) / elem;
  auto at = [&](const std::vector<uint8_t>& v, size_t i) {
    if (!half) {
      float f;
      std::memcpy(&f, v.data() + i * 4, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, v.data() + i * 2, 2);
    return halfToFloat(h);
  };
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const float a = at(got, i), b = at(want, i);
    if (!std::isfinite(a)) return std::numeric_limits<double>::infinity();
    num += (double(a) - b) * (double(a) - b);
    den += double(b) * b;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

}  // namespace qrt::cuda
